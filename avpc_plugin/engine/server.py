"""The engine: OSC servers (UDP, optionally TCP on the same port), request dispatch, replies.

UDP packets are read and dispatched one at a time by one thread; every TCP connection gets its own
thread. Requests are cheap (a submit only validates the job and queues it); the separation runs on
the :class:`~avpc_plugin.engine.jobs.JobQueue` worker. Nothing a client sends can stop the engine
except ``/avpc/shutdown``: every failure becomes an ``/avpc/error`` reply and a log line.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avpc_plugin import __version__
from avpc_plugin.checkpoints.registry import list_models
from avpc_plugin.engine.jobs import JobQueue
from avpc_plugin.engine.protocol import (
    MAX_ECHOED_ID,
    MAX_ERROR_MESSAGE,
    MAX_REF_LENGTH,
    PROTOCOL_VERSION,
    REPLY_ADDRESSES,
    Address,
    ErrorCode,
    ProtocolError,
    Request,
    clip_text,
    parse_job,
    parse_request,
)
from avpc_plugin.engine.transport import (
    MAX_DATAGRAM_BYTES,
    Channel,
    StreamDeframer,
    TcpChannel,
    UdpChannel,
    decode_packet,
)
from avpc_plugin.presets import list_presets
from avpc_plugin.separate.separator import Separator

LOG = logging.getLogger("avpc.engine")


MAX_TCP_CONNECTIONS = 64
"""TCP connections served at once (a thread each); more are closed on arrival."""


class BindError(ValueError):
    """A listening address the engine refuses (remote without ``--allow-remote``) or can't use."""


def check_bind_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback listening address unless ``allow_remote``.

    Raises:
        BindError: the host does not resolve, or resolves to a non-loopback address.
    """
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror as err:
        raise BindError(f"--host {host!r}: cannot resolve ({err})") from None
    addresses = {str(info[4][0]) for info in infos}
    remote = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback)
    if remote and not allow_remote:
        raise BindError(
            f"--host {host!r} ({', '.join(remote)}) is reachable from other machines; the engine "
            "reads and writes files for whoever can reach it, so pass --allow-remote to mean it"
        )


def check_port_free(host: str, port: int, tcp: bool) -> None:
    """Bind ``port`` for a moment (UDP, and TCP when asked) to see that the engine will get it.

    Raises:
        BindError: the port is taken or the address can't be bound.
    """
    kinds = [socket.SOCK_DGRAM] + ([socket.SOCK_STREAM] if tcp else [])
    for kind in kinds:
        family = socket.getaddrinfo(host, None, type=kind)[0][0]
        with socket.socket(family, kind) as probe:
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server
            try:
                probe.bind((host, port))
            except OSError as err:
                raise BindError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def list_preset_names() -> list[str]:
    """Names of the stem presets the Separator knows (shipped and the user's)."""
    return list(list_presets())


@dataclass(frozen=True)
class EngineConfig:
    """How the engine listens and queues.

    Attributes:
        host, port: listening address (port 0: any free port, the same for UDP and TCP).
        tcp: also listen for OSC over TCP on the same port.
        allow_remote: allow a non-loopback ``host``.
        output_root: if set, jobs may write only inside this folder.
        max_queued: waiting jobs at most.
        progress_interval: seconds between progress messages of the running job.
    """

    host: str = "127.0.0.1"
    port: int = 9000
    tcp: bool = False
    allow_remote: bool = False
    output_root: Path | None = None
    max_queued: int = 64
    progress_interval: float = 0.25


class _UdpServer(socketserver.UDPServer):
    max_packet_size = MAX_DATAGRAM_BYTES

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        self.address_family = socket.getaddrinfo(address[0], None, type=socket.SOCK_DGRAM)[0][0]
        self.engine = engine
        super().__init__(address, _UdpHandler)


class _UdpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        server: _UdpServer = self.server  # type: ignore[assignment]
        peer = (self.client_address[0], self.client_address[1])
        if server.engine.is_own_address(*peer):
            LOG.debug("dropped a packet from the engine's own socket")  # never talk to itself
            return
        server.engine.handle_packet(data, UdpChannel(sock, peer), peer[0])


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        self.address_family = socket.getaddrinfo(address[0], None, type=socket.SOCK_STREAM)[0][0]
        self.engine = engine
        self.connections = threading.BoundedSemaphore(MAX_TCP_CONNECTIONS)
        super().__init__(address, _TcpHandler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Take one of the :data:`MAX_TCP_CONNECTIONS` slots (each connection is a thread), or
        refuse the connection: it is closed at once."""
        if self.connections.acquire(blocking=False):
            return True
        LOG.warning(
            "tcp:%s:%s refused: %d connections open", *client_address[:2], MAX_TCP_CONNECTIONS
        )
        return False

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.release()  # no thread started: the slot is free again
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


class _TcpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: _TcpServer = self.server  # type: ignore[assignment]
        engine = server.engine
        sock: socket.socket = self.request
        sock.settimeout(1.0)  # lets the thread see a shutdown; bounds a send to a stuck client
        peer = (self.client_address[0], self.client_address[1])
        deframer = StreamDeframer()
        channel = TcpChannel(sock, peer, deframer)
        LOG.debug("%s connected", channel.describe())
        try:
            # Serve until the engine hangs up, which is after the jobs' final messages are sent.
            while not engine.hangup.is_set():
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data or not self._serve(engine, deframer, channel, data):
                    break
        finally:
            channel.close()
            LOG.debug("%s disconnected", channel.describe())

    def _serve(
        self, engine: Engine, deframer: StreamDeframer, channel: TcpChannel, data: bytes
    ) -> bool:
        """Answer every packet ``data`` completes; False when the connection must close."""
        while True:
            try:
                for packet in deframer.feed(data):
                    engine.handle_packet(packet, channel, channel.peer[0])
                return True
            except ProtocolError as err:
                engine.reply_error(channel, err.code, err.message)
                if err.code == ErrorCode.TOO_LARGE:
                    LOG.warning("%s: %s; closing", channel.describe(), err.message)
                    return False
                data = b""  # a malformed frame was dropped: go on with what follows it


class Engine:
    """The OSC front of a warm :class:`Separator`.

    Args:
        separator: the Separator every job runs on (its model loaded once).
        model_name: what ``/avpc/hello`` and ``/avpc/models`` report as loaded.
        config: listening address and queue settings.
    """

    def __init__(self, separator: Separator, model_name: str, config: EngineConfig) -> None:
        check_bind_host(config.host, config.allow_remote)
        self.separator = separator
        self.model_name = model_name
        self.config = config
        self.queue = JobQueue(separator, config.max_queued, config.progress_interval)
        self.stopping = threading.Event()
        self.hangup = threading.Event()
        """Set once every job has sent its final message: TCP connections then close."""
        self.started_at = time.monotonic()
        self._udp: _UdpServer | None = None
        self._tcp: _TcpServer | None = None
        self._threads: list[threading.Thread] = []
        self._handlers = {
            Address.HELLO: self._hello,
            Address.PING: self._ping,
            Address.MODELS: self._models,
            Address.PRESETS: self._presets,
            Address.SUBMIT: self._submit,
            Address.CANCEL: self._cancel,
            Address.STATUS: self._status,
            Address.SHUTDOWN: self._shutdown,
        }

    # -------------------------------------------------------------------------- life cycle

    def start(self) -> None:
        """Bind the sockets and start serving (returns at once).

        Raises:
            BindError: the port is taken or the address can't be bound.
        """
        host, port = self.config.host, self.config.port
        try:
            self._udp = _UdpServer((host, port), self)
            if self.config.tcp:
                self._tcp = _TcpServer((host, self._udp.server_address[1]), self)
        except OSError as err:
            self.close()
            raise BindError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
        self.queue.start()
        for name, server in (("avpc-udp", self._udp), ("avpc-tcp", self._tcp)):
            if server is not None:
                thread = threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name
                )
                thread.daemon = True
                thread.start()
                self._threads.append(thread)
        LOG.info(
            "engine %s (protocol %s) serving %s on %s, model %s on %s",
            __version__,
            PROTOCOL_VERSION,
            "UDP+TCP" if self._tcp else "UDP",
            self.endpoint_text(),
            self.model_name,
            self.separator.device,
        )

    @property
    def port(self) -> int:
        """The bound port (UDP, and TCP when enabled)."""
        if self._udp is None:
            raise RuntimeError("the engine is not started")
        return int(self._udp.server_address[1])

    def endpoint_text(self) -> str:
        """``udp=HOST:PORT[ tcp=HOST:PORT]``."""
        text = f"udp={self.config.host}:{self.port}"
        return text + (f" tcp={self.config.host}:{self.port}" if self._tcp else "")

    def request_shutdown(self) -> None:
        """Ask the engine to stop (from any thread; not from a signal handler, which may run while
        its own thread holds this event's lock: ``avpc engine`` polls for signals instead)."""
        self.stopping.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a shutdown is requested; True if it was."""
        return self.stopping.wait(timeout)

    def close(self) -> None:
        """Stop serving, end the jobs (running ones cancelled, no partial files), join threads."""
        self.stopping.set()
        for server in (self._udp, self._tcp):
            if server is not None and self._threads:
                server.shutdown()
        self.queue.stop()
        self.hangup.set()
        for server in (self._udp, self._tcp):
            if server is not None:
                server.server_close()
        self._udp = self._tcp = None
        LOG.info("engine stopped")

    def is_own_address(self, host: str, port: int) -> bool:
        """Whether ``(host, port)`` is the engine's own socket (a reply there would loop)."""
        if self._udp is None or port != self.port:
            return False
        try:
            loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        return loopback or host == self._udp.server_address[0]

    # ------------------------------------------------------------------------------ dispatch

    def handle_packet(self, data: bytes, channel: Channel, sender_host: str) -> None:
        """Decode one OSC packet and answer every message in it; never raises."""
        try:
            messages = decode_packet(data)
        except ProtocolError as err:
            LOG.warning("%s: %s", channel.describe(), err.message)
            self.reply_error(channel, err.code, err.message)
            return
        for address, args in messages:
            self._handle_message(address, args, channel, sender_host)

    def _handle_message(
        self, address: str, args: list[Any], channel: Channel, sender_host: str
    ) -> None:
        if address in REPLY_ADDRESSES:
            # Another engine's reply (or this one's, looped back): answering it could start an
            # endless exchange of errors, so it is only logged.
            LOG.warning("%s sent %s, a reply address; ignored", channel.describe(), address)
            return
        reply = channel
        job_id = ""
        try:
            request = parse_request(address, args)
            job_id = str(request.args.get("job_id", ""))
            if request.reply_port is not None:
                if self._udp is None:
                    raise ProtocolError(ErrorCode.INTERNAL, "no UDP socket to reply from")
                if self.is_own_address(sender_host, request.reply_port):
                    raise ProtocolError(
                        ErrorCode.BAD_ARGUMENTS,
                        f"{address}: reply_port {request.reply_port} is the engine's own port; "
                        "give the port your client listens on",
                    )
                reply = UdpChannel(self._udp.socket, (sender_host, request.reply_port))
            LOG.debug("%s %s", channel.describe(), address)
            self._handlers[address](request, reply)
        except ProtocolError as err:
            LOG.warning(
                "%s %s refused: %s: %s",
                channel.describe(),
                address,
                err.code,
                clip_text(err.message, MAX_ERROR_MESSAGE),
            )
            self.reply_error(reply, err.code, err.message, job_id, err.ref)
        except Exception as err:
            LOG.exception("%s %s: unexpected error", channel.describe(), address)
            self.reply_error(reply, ErrorCode.INTERNAL, f"{type(err).__name__}: {err}")

    @staticmethod
    def reply_error(
        channel: Channel, code: str, message: str, job_id: str = "", ref: str = ""
    ) -> None:
        """Send ``/avpc/error code message job_id ref``, each text cut to its bound (an ellipsis
        marks a cut) so the reply fits one datagram."""
        channel.send(
            Address.ERROR,
            code,
            clip_text(message, MAX_ERROR_MESSAGE),
            clip_text(job_id, MAX_ECHOED_ID),
            clip_text(ref, MAX_REF_LENGTH),
        )

    # ------------------------------------------------------------------------------ handlers

    def _hello(self, request: Request, reply: Channel) -> None:
        reply.send(
            Address.VERSION,
            PROTOCOL_VERSION,
            __version__,
            self.model_name,
            str(self.separator.device),
        )

    def _ping(self, request: Request, reply: Channel) -> None:
        reply.send(Address.PONG, PROTOCOL_VERSION)

    def _models(self, request: Request, reply: Channel) -> None:
        models = [
            {
                "name": entry.name,
                "arch": entry.arch,
                "description": entry.description,
                "default": entry.default,
            }
            for entry in list_models()
        ]
        reply.send(Address.MODELS, json.dumps({"loaded": self.model_name, "models": models}))

    def _presets(self, request: Request, reply: Channel) -> None:
        reply.send(Address.PRESETS, json.dumps({"presets": list_preset_names()}))

    def _submit(self, request: Request, reply: Channel) -> None:
        text: str = request.args["job"]
        try:
            spec = parse_job(text, self.config.output_root)
            self.queue.submit(spec, reply)
        except ProtocolError as err:
            err.ref = _ref_of(text)
            raise
        except Exception as err:  # a bug: still tell the client which job it was about
            LOG.exception("%s %s: unexpected error", reply.describe(), request.address)
            raise ProtocolError(
                ErrorCode.INTERNAL, f"{type(err).__name__}: {err}", _ref_of(text)
            ) from None

    def _cancel(self, request: Request, reply: Channel) -> None:
        self.queue.cancel(request.args["job_id"])

    def _status(self, request: Request, reply: Channel) -> None:
        job_id = request.args.get("job_id")
        if job_id is not None:
            reply.send(Address.STATUS, json.dumps({"job": self.queue.get(job_id).summary()}))
            return
        state = {
            "protocol": PROTOCOL_VERSION,
            "engine": __version__,
            "model": self.model_name,
            "device": str(self.separator.device),
            "uptime": round(time.monotonic() - self.started_at, 3),
            **self.queue.status(),
        }
        reply.send(Address.STATUS, json.dumps(state))

    def _shutdown(self, request: Request, reply: Channel) -> None:
        LOG.info("shutdown requested by %s", reply.describe())
        reply.send(Address.BYE)
        self.request_shutdown()


def _ref_of(text: str) -> str:
    """The ``ref`` of a job description, if it has a readable one (to tag its error)."""
    try:
        job = json.loads(text)
    except (ValueError, RecursionError):
        return ""
    ref = job.get("ref") if isinstance(job, dict) else None
    return clip_text(ref, MAX_REF_LENGTH) if isinstance(ref, str) else ""
