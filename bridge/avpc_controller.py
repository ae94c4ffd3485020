#!/usr/bin/env python3
"""A plain controller for the avpc engine: submit a job, follow its progress, print the stems.

Needs only Python 3.9+ and python-osc (``pip install python-osc``), so it runs inside any host that
embeds Python (REAPER's ReaScript, a shell, a notebook). It does not import ``avpc_plugin``; the
protocol it speaks is ``bridge/PROTOCOL.md``.

Shell::

    python avpc_controller.py ping
    python avpc_controller.py separate /abs/concert.mp4 --stem violin@0,0,0.5,1 \\
        --stem cello@0.5,0,0.5,1 --out /abs/stems

prints one line per finished stem: ``STEM<TAB>name<TAB>path<TAB>start_seconds<TAB>start_sample``.

Library::

    client = EngineClient.connect("127.0.0.1", 9000)
    job_id = client.submit(make_job("/abs/concert.mp4", [parse_stem("violin")], "/abs/stems"))
    result = client.follow(job_id, on_progress=print)
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import struct
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pythonosc import slip
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

PROTOCOL_VERSION = "1.3"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
JOB_EVENTS = ("/avpc/accepted", "/avpc/progress", "/avpc/stem", "/avpc/done", "/avpc/cancelled")


class EngineError(Exception):
    """An ``/avpc/error`` from the engine, or no answer in time (code ``timeout``), or nobody
    listening where the OS can tell (code ``unreachable``: an ICMP port unreachable came back)."""

    def __init__(self, code: str, message: str, job_id: str = "", ref: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.job_id, self.ref = code, message, job_id, ref


@dataclass(frozen=True)
class Message:
    """One OSC message: its address and arguments."""

    address: str
    args: tuple

    @property
    def job_id(self) -> str:
        """The job the message is about ('' if none)."""
        if self.address == "/avpc/error":
            return str(self.args[2]) if len(self.args) > 2 else ""
        if self.address in JOB_EVENTS and self.args:
            return str(self.args[0])
        return ""


def encode(address: str, args: Sequence[Any]) -> bytes:
    """An OSC message (str -> s, int -> i, float -> f)."""
    builder = OscMessageBuilder(address=address)
    for value in args:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError(f"{address}: argument {value!r}: expected str, int or float")
        kind = "i" if isinstance(value, int) else "f" if isinstance(value, float) else "s"
        builder.add_arg(value, kind)
    return builder.build().dgram


def decode(data: bytes) -> list[Message]:
    """The messages of one OSC packet (bundles flattened). Raises ValueError if not OSC."""
    try:
        packet = OscPacket(data)
    except Exception as err:  # python-osc raises ParseError and friends
        raise ValueError(f"not an OSC packet: {err}") from None
    return [Message(m.message.address, tuple(m.message.params)) for m in packet.messages]


class Connection:
    """An OSC link to the engine over UDP (one local port) or TCP (SLIP or length framing)."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        transport: str = "udp",
        framing: str = "slip",
        connect_timeout: float = 5.0,
    ) -> None:
        if transport not in ("udp", "tcp"):
            raise ValueError(f"transport: expected 'udp' or 'tcp', got {transport!r}")
        if framing not in ("slip", "length"):
            raise ValueError(f"framing: expected 'slip' or 'length', got {framing!r}")
        self.host, self.port, self.transport, self.framing = host, port, transport, framing
        family = socket.getaddrinfo(host, port)[0][0]
        if transport == "udp":
            self.sock = socket.socket(family, socket.SOCK_DGRAM)
            self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        self._buffer = bytearray()
        self._ready: deque[Message] = deque()

    @property
    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    def send(self, address: str, *args: Any) -> None:
        data = encode(address, args)
        if self.transport == "udp":
            try:
                self.sock.send(data)
            except ConnectionRefusedError:  # an earlier datagram's ICMP port unreachable
                raise self._unreachable() from None
        elif self.framing == "slip":
            self.sock.sendall(slip.encode(data))
        else:
            self.sock.sendall(struct.pack("!I", len(data)) + data)

    def receive(self, timeout: float | None) -> Message | None:
        """The next message, or None if none came within ``timeout`` seconds (None: wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, BlockingIOError):
                return None
            except ConnectionRefusedError:  # UDP: nobody listens (an ICMP came back)
                raise self._unreachable() from None
            if self.transport == "udp":
                self._ready.extend(decode(data))
            elif not data:
                raise ConnectionError("the engine closed the connection")
            else:
                self._buffer += data
                for packet in self._packets():
                    self._ready.extend(decode(packet))
        return self._ready.popleft()

    def _unreachable(self) -> EngineError:
        return EngineError(
            "unreachable",
            f"nothing listens on {self.host}:{self.port} (the OS reports the port closed)",
        )

    def _packets(self) -> Iterator[bytes]:
        if self.framing == "slip":
            while True:
                end = self._buffer.find(slip.END)
                if end < 0:
                    return
                frame = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                if len(frame) > 1:
                    yield slip.decode(frame)
        while len(self._buffer) >= 4:
            (length,) = struct.unpack("!I", self._buffer[:4])
            if len(self._buffer) < 4 + length:
                return
            packet = bytes(self._buffer[4 : 4 + length])
            del self._buffer[: 4 + length]
            yield packet

    def close(self) -> None:
        self.sock.close()


@dataclass
class StemFile:
    """A finished stem: where it is and where it starts in the source."""

    name: str
    path: str
    start_seconds: float
    start_sample: int
    sample_rate: int


@dataclass
class JobTracker:
    """The state of one job, updated message by message (no I/O: a host's UI loop can drive it).

    Attributes:
        fraction, message: latest progress; ``progress_times`` when each progress came
            (``time.monotonic()``).
        stems: finished stems in arrival order.
        summary: the ``/avpc/done`` JSON, once done; ``error`` an :class:`EngineError` if it failed.
    """

    job_id: str
    fraction: float = 0.0
    message: str = ""
    stems: list[StemFile] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    error: EngineError | None = None
    cancelled: bool = False
    progress_times: list[float] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.summary is not None or self.error is not None or self.cancelled

    def feed(self, message: Message) -> bool:
        """Take one message (ignored unless it is about this job); True if it was."""
        if message.job_id != self.job_id:
            return False
        args = message.args
        if message.address == "/avpc/progress":
            self.fraction, self.message = float(args[1]), str(args[2])
            self.progress_times.append(time.monotonic())
        elif message.address == "/avpc/stem":
            self.stems.append(
                StemFile(str(args[1]), str(args[2]), float(args[3]), int(args[4]), int(args[5]))
            )
        elif message.address == "/avpc/done":
            self.summary = json.loads(args[1])
        elif message.address == "/avpc/cancelled":
            self.cancelled = True
        elif message.address == "/avpc/error":
            self.error = EngineError(*(str(a) for a in args[:4]))
        return True


class EngineClient:
    """Requests and job following on top of a :class:`Connection`.

    Messages that arrive while waiting for a particular reply (e.g. progress of a running job) are
    kept and handed out by :meth:`poll` / :meth:`follow`.
    """

    def __init__(
        self, connection: Connection, timeout: float = 5.0, silence_timeout: float = 30.0
    ) -> None:
        self.connection = connection
        self.timeout = timeout
        self.silence_timeout = silence_timeout
        self.pending: deque[Message] = deque()

    @classmethod
    def connect(
        cls,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        transport: str = "udp",
        timeout: float = 5.0,
        silence_timeout: float = 30.0,
    ) -> EngineClient:
        """Open a link; ``timeout`` bounds the TCP connect and each wait for a reply,
        ``silence_timeout`` how long :meth:`follow` waits on a silent engine before asking it."""
        return cls(Connection(host, port, transport, connect_timeout=timeout), timeout,
                   silence_timeout)  # fmt: skip

    def close(self) -> None:
        self.connection.close()

    def request(
        self,
        address: str,
        *args: Any,
        expect: str,
        match: Callable[[Message], bool] | None = None,
        timeout: float | None = None,
        job_id: str = "",
    ) -> Message:
        """Send a request and wait for its reply (``expect``) or an error about it.

        A reply is ours when ``match`` accepts it (default: any ``expect``); an error is ours when
        ``match`` accepts it, or else when it names ``job_id`` and no job ref.

        Raises:
            EngineError: the engine answered ``/avpc/error``, or nothing came in time (``timeout``).
        """
        self.connection.send(address, *args)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            message = self.connection.receive(max(0.0, deadline - time.monotonic()))
            if message is None:
                raise EngineError("timeout", f"no answer to {address} from the engine in time")
            ours = match(message) if match else True
            if message.address == expect and ours:
                return message
            if message.address == "/avpc/error" and (
                match(message) if match else tuple(message.args[2:4]) == (job_id, "")
            ):
                raise EngineError(*(str(a) for a in message.args[:4]))
            self.pending.append(message)

    def ping(self) -> float:
        """Round trip time in seconds."""
        began = time.perf_counter()
        self.request("/avpc/ping", expect="/avpc/pong")
        return time.perf_counter() - began

    def hello(self) -> dict[str, str]:
        args = self.request("/avpc/hello", expect="/avpc/version").args
        keys = ("protocol", "engine", "model", "device")
        return {key: str(args[i]) for i, key in enumerate(keys) if i < len(args)}

    def models(self) -> dict[str, Any]:
        return json.loads(self.request("/avpc/models", expect="/avpc/models").args[0])

    def presets(self) -> list[str]:
        return json.loads(self.request("/avpc/presets", expect="/avpc/presets").args[0])["presets"]

    def status(self, job_id: str | None = None) -> dict[str, Any]:
        args = () if job_id is None else (job_id,)
        reply = self.request("/avpc/status", *args, expect="/avpc/status", job_id=job_id or "")
        return json.loads(reply.args[0])

    def shutdown(self) -> None:
        self.request("/avpc/shutdown", expect="/avpc/bye")

    def submit(self, job: dict[str, Any]) -> str:
        """Submit a job description (see :func:`make_job`); returns the engine's job id.

        Raises:
            EngineError: the engine refused the job (bad description, outputs exist, ...).
        """
        job = dict(job)
        job.setdefault("ref", uuid.uuid4().hex)
        job.setdefault("protocol", PROTOCOL_VERSION)
        ref = job["ref"]

        def about_this_job(message: Message) -> bool:
            position = 1 if message.address == "/avpc/accepted" else 3
            return len(message.args) > position and message.args[position] == ref

        text = json.dumps(job, separators=(",", ":"))
        return str(
            self.request("/avpc/submit", text, expect="/avpc/accepted", match=about_this_job).args[
                0
            ]
        )

    def cancel(self, job_id: str) -> None:
        """Ask the engine to cancel; :meth:`follow` then ends with ``cancelled``."""
        self.connection.send("/avpc/cancel", job_id)

    def poll(self, timeout: float = 0.0) -> Message | None:
        """The next message (kept ones first), or None if none arrives within ``timeout``."""
        if self.pending:
            return self.pending.popleft()
        return self.connection.receive(timeout)

    def follow(
        self,
        job_id: str,
        on_progress: Callable[[float, str], None] | None = None,
        on_stem: Callable[[StemFile], None] | None = None,
        silence_timeout: float | None = None,
    ) -> JobTracker:
        """Wait for a job to end, calling back on progress and stems.

        Raises:
            EngineError: ``timeout`` when the engine is silent for ``silence_timeout`` seconds
                and does not say the job is still queued or running when asked (a job waits
                silently behind others: only the running job sends progress).
        """
        if silence_timeout is None:
            silence_timeout = self.silence_timeout
        tracker = JobTracker(job_id)
        kept: list[Message] = []
        while not tracker.finished:
            message = self.poll(silence_timeout)
            if message is None:
                state = self.job_state(job_id)
                if state in ("queued", "running"):
                    continue
                raise EngineError(
                    "timeout",
                    f"no news of job {job_id} for {silence_timeout} s (engine says: {state})",
                    job_id,
                )
            stems_before = len(tracker.stems)
            if not tracker.feed(message):
                kept.append(message)
                continue
            if message.address == "/avpc/progress" and on_progress:
                on_progress(tracker.fraction, tracker.message)
            if len(tracker.stems) > stems_before and on_stem:
                on_stem(tracker.stems[-1])
        self.pending.extendleft(reversed(kept))
        return tracker

    def job_state(self, job_id: str) -> str:
        """The engine's state of a job (queued, running, done, ...), or why it could not be
        had (an error code such as ``unknown_job`` or ``timeout``)."""
        try:
            return str(self.status(job_id)["job"]["state"])
        except EngineError as err:
            return err.code
        except (OSError, ValueError, KeyError) as err:
            return f"no answer ({err})"


# ------------------------------------------------------------------------------ job descriptions

_STEM_SPEC = re.compile(
    r"(?P<name>[^=@+]+)(?:=(?P<preset>[^@+]*))?(?:@(?P<box>[^+]*))?(?:\+(?P<offset>.*))?"
)


def parse_stem(spec: str, video: str | None = None) -> dict[str, Any]:
    """``NAME[=PRESET][@x,y,w,h][+OFFSET]`` -> a stem object of the job description.

    Raises:
        ValueError: malformed box or offset.
    """
    match = _STEM_SPEC.fullmatch(spec.strip())
    if match is None:
        raise ValueError(f"stem {spec!r}: expected NAME[=PRESET][@x,y,w,h][+OFFSET]")
    stem: dict[str, Any] = {"name": match["name"]}
    if match["preset"]:
        stem["preset"] = match["preset"]
    if match["box"] is not None:
        try:
            box = [float(v) for v in match["box"].split(",")]
        except ValueError:
            box = []
        if len(box) != 4:
            raise ValueError(f"stem {spec!r}: box: expected four numbers x,y,w,h")
        stem["box"] = box
    if match["offset"] is not None:
        try:
            stem["offset"] = float(match["offset"])
        except ValueError:
            raise ValueError(f"stem {spec!r}: offset: expected seconds, e.g. +1.5") from None
    if video is not None:
        stem["video"] = video
    return stem


def make_job(
    source: str,
    stems: Sequence[dict[str, Any]],
    out_dir: str,
    video: str | None = None,
    start: float | None = None,
    end: float | None = None,
    fmt: str = "wav",
    bit_depth: str = "24",
    overwrite: bool = False,
    template: str | None = None,
    residual: bool = False,
    ref: str | None = None,
    normalise: bool = False,
) -> dict[str, Any]:
    """A job description for ``/avpc/submit`` (paths must be absolute).

    ``normalise`` shares every time-frequency bin among the stems so they sum to the source: for
    when the stems name every instrument that plays (with one stem it returns the whole mix).
    """
    job: dict[str, Any] = {
        "protocol": PROTOCOL_VERSION,
        "source": source,
        "stems": list(stems),
        "out_dir": out_dir,
        "format": fmt,
        "bit_depth": bit_depth,
        "overwrite": overwrite,
        "residual": residual,
        "normalise": normalise,
    }
    optional = {"video": video, "start": start, "end": end, "template": template, "ref": ref}
    job.update({key: value for key, value in optional.items() if value is not None})
    return job


# -------------------------------------------------------------------------------------- the shell


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Talk to a running avpc engine over OSC.")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"engine address (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"engine port (default {DEFAULT_PORT})"
    )
    parser.add_argument("--tcp", action="store_true", help="use TCP instead of UDP")
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds to wait for a connection or a reply (default 5)",
    )
    parser.add_argument(
        "--silence-timeout",
        type=float,
        default=30.0,
        help="seconds a followed job may go without news before the engine is asked (default 30)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    simple = {
        "ping": "check that the engine answers",
        "hello": "the engine's version, protocol, model and device",
        "models": "the models the engine can load",
        "presets": "the stem presets the engine knows",
        "shutdown": "stop the engine (a running job is cancelled, its files removed)",
    }
    for name, text in simple.items():
        commands.add_parser(name, help=text)
    status = commands.add_parser("status", help="the engine and its queue, or one job")
    status.add_argument("job_id", nargs="?", help="a job id (default: the whole engine)")
    cancel = commands.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job_id", help="the job id the engine gave when it accepted the job")
    job = commands.add_parser("separate", help="submit a job and follow it")
    job.add_argument("source", help="audio or video file")
    job.add_argument(
        "--stem",
        action="append",
        required=True,
        metavar="NAME[=PRESET][@x,y,w,h][+OFFSET]",
        help="a stem to extract, as `avpc separate --stem` takes it; repeat for several",
    )
    job.add_argument("--out", required=True, help="output folder")
    job.add_argument("--video", default=None, help="footage for the stems (default: the source)")
    job.add_argument("--start", type=float, default=None, help="first second to separate")
    job.add_argument("--end", type=float, default=None, help="second to stop at")
    job.add_argument("--format", default="wav", choices=("wav", "flac", "aiff"), help="stem format")
    job.add_argument(
        "--bit-depth", default="24", choices=("16", "24", "32f"), help="sample format of the stems"
    )
    job.add_argument(
        "--template", default=None, help="output path inside --out, e.g. {track}/{stem}.{ext}"
    )
    job.add_argument("--residual", action="store_true", help="also write the input minus the stems")
    job.add_argument(
        "--normalise", action="store_true", help="stems share the mix (name every instrument)"
    )
    job.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return parser


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 1..65535, got {port}")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit status 0 on success, 1 on an engine error or timeout, 130 when
    interrupted (a job being followed is cancelled first)."""
    args = _parser().parse_args(argv)
    where = f"{args.host}:{args.port}"
    try:
        client = EngineClient.connect(
            args.host, args.port, "tcp" if args.tcp else "udp", args.timeout, args.silence_timeout
        )
    except OSError as err:
        print(f"error: cannot reach the engine at {where} ({err}); is `avpc engine` running "
              "there?", file=sys.stderr)  # fmt: skip
        return 1
    try:
        return _run(client, args)
    except EngineError as err:
        silent = err.code in ("timeout", "unreachable")
        hint = f" (is `avpc engine --port {args.port}` running?)" if silent else ""
        print(f"error: {err}{hint}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        client.close()


def _run(client: EngineClient, args: argparse.Namespace) -> int:
    if args.command == "ping":
        print(f"pong in {client.ping() * 1000:.2f} ms")
    elif args.command == "status":
        print(json.dumps(client.status(args.job_id), indent=2))
    elif args.command in ("hello", "models"):
        print(json.dumps(getattr(client, args.command)(), indent=2))
    elif args.command == "presets":
        print("\n".join(client.presets()))
    elif args.command == "shutdown":
        client.shutdown()
        print("engine shutting down")
    elif args.command == "cancel":
        # the engine confirms a cancel to the job's submitter only: ask about the job first,
        # so an unknown or ended one is an error here rather than silence
        state = client.status(args.job_id)["job"]["state"]
        if state in ("done", "failed", "cancelled"):
            raise EngineError("job_finished", f"job {args.job_id} has already ended ({state})")
        client.cancel(args.job_id)
        print(f"cancel requested for job {args.job_id} ({state})")
    else:
        return _separate(client, args)
    return 0


def _separate(client: EngineClient, args: argparse.Namespace) -> int:
    """Submit the job, follow it, print a STEM line per stem; Ctrl-C cancels it."""
    import os

    absolute = {
        key: os.path.abspath(value) if value else None
        for key, value in (("source", args.source), ("out", args.out), ("video", args.video))
    }
    job_id = client.submit(
        make_job(
            absolute["source"] or "",
            [parse_stem(spec) for spec in args.stem],
            absolute["out"] or "",
            video=absolute["video"],
            start=args.start,
            end=args.end,
            fmt=args.format,
            bit_depth=args.bit_depth,
            overwrite=args.overwrite,
            template=args.template,
            residual=args.residual,
            normalise=args.normalise,
        )
    )
    print(f"job {job_id} accepted", file=sys.stderr)

    def show(fraction: float, message: str) -> None:
        print(f"\r{fraction * 100:5.1f}% {message:<40}", end="", file=sys.stderr, flush=True)

    try:
        result = client.follow(job_id, on_progress=show)
    except KeyboardInterrupt:  # do not leave the job running unseen
        client.cancel(job_id)
        print(f"\ninterrupted: job {job_id} cancelled", file=sys.stderr)
        return 130
    print(file=sys.stderr)
    for stem in result.stems:
        print(f"STEM\t{stem.name}\t{stem.path}\t{stem.start_seconds:.6f}\t{stem.start_sample}")
    if result.error is not None:
        raise result.error
    if result.cancelled:
        print(f"job {job_id} cancelled", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
