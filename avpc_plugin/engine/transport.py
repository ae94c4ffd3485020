"""OSC on the wire: packet encoding and decoding, TCP stream framing, reply channels.

Messages are built and parsed with python-osc. Over TCP the engine speaks both OSC 1.1 (SLIP
framing, python-osc's default) and OSC 1.0 (each packet prefixed with its length as a big-endian
uint32); :class:`StreamDeframer` picks the framing from the connection's first byte (SLIP streams
start with the END byte ``0xC0``; a length prefix below 16 MiB starts with ``0x00``).
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from pythonosc import slip
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from avpc_plugin.engine.protocol import (
    MAX_ECHOED_ID,
    Address,
    ErrorCode,
    ProtocolError,
    osc_text_fault,
)

LOG = logging.getLogger("avpc.engine")

MAX_PACKET_BYTES = 4 * 1024 * 1024
"""A TCP packet longer than this is refused and the connection closed."""
MAX_DATAGRAM_BYTES = 65507
"""Largest UDP payload (IPv4)."""
MAX_BUNDLE_DEPTH = 16
"""Bundles nested deeper than this are refused as ``bad_packet``."""
SLIP_END = 0xC0
BUNDLE_HEADER = b"#bundle\x00"
INT32_MAX = 2**31 - 1
_JOB_EVENTS = frozenset(
    {Address.PROGRESS, Address.STEM, Address.DONE, Address.CANCELLED, Address.ACCEPTED}
)


class Double(float):
    """A float sent as OSC ``d`` (64-bit) instead of ``f``: positions in seconds."""


def encode_message(address: str, args: Sequence[Any]) -> bytes:
    """One OSC message: str -> ``s``, int -> ``i`` (``h`` outside int32), :class:`Double` ->
    ``d``, float -> ``f``. Never fails on a string: see :func:`osc_text`."""
    builder = OscMessageBuilder(address=address)
    for value in args:
        if isinstance(value, Double):
            builder.add_arg(float(value), OscMessageBuilder.ARG_TYPE_DOUBLE)
        elif isinstance(value, bool):
            builder.add_arg(value)
        elif isinstance(value, int):
            wide = not -INT32_MAX - 1 <= value <= INT32_MAX
            builder.add_arg(
                value, OscMessageBuilder.ARG_TYPE_INT64 if wide else OscMessageBuilder.ARG_TYPE_INT
            )
        elif isinstance(value, float):
            builder.add_arg(value, OscMessageBuilder.ARG_TYPE_FLOAT)
        else:
            builder.add_arg(osc_text(str(value)), OscMessageBuilder.ARG_TYPE_STRING)
    return builder.build().dgram


def osc_text(text: str) -> str:
    """``text`` made safe for an OSC string: a NUL (which would end the string early) becomes
    ``\\x00`` and a lone UTF-16 surrogate (which UTF-8 cannot encode) ``\\udXXX``."""
    if osc_text_fault(text) is None:
        return text
    text = text.replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_bundle(data: bytes | memoryview, depth: int = 0) -> None:
    """Check the element sizes of an OSC bundle (and its nested bundles) before python-osc walks
    them: python-osc loops forever on a negative size and logs a warning per unknown element.

    Raises:
        ProtocolError: ``bad_packet``: an element size that is not a positive multiple of 4
            within the packet, an element that is neither a message nor a bundle, or nesting
            deeper than :data:`MAX_BUNDLE_DEPTH`.
    """
    view = memoryview(data)
    if bytes(view[:8]) != BUNDLE_HEADER:
        return
    if depth >= MAX_BUNDLE_DEPTH:
        raise ProtocolError(
            ErrorCode.BAD_PACKET, f"bundles nested deeper than {MAX_BUNDLE_DEPTH} levels"
        )
    if len(view) < 16:
        raise ProtocolError(
            ErrorCode.BAD_PACKET, f"bundle of {len(view)} bytes, shorter than its 16-byte header"
        )
    index = 16
    while index < len(view):
        if index + 4 > len(view):
            raise ProtocolError(
                ErrorCode.BAD_PACKET, f"bundle element size cut off at byte {index}"
            )
        (size,) = struct.unpack_from(">i", view, index)
        if size < 4 or size % 4 or index + 4 + size > len(view):
            raise ProtocolError(
                ErrorCode.BAD_PACKET,
                f"bundle element at byte {index} claims {size} bytes (expected a multiple of 4, "
                f"at least 4, within the {len(view)}-byte packet)",
            )
        element = view[index + 4 : index + 4 + size]
        if element[0] != ord("/") and bytes(element[:8]) != BUNDLE_HEADER:
            raise ProtocolError(
                ErrorCode.BAD_PACKET,
                f"bundle element at byte {index} is neither an OSC message nor a bundle",
            )
        check_bundle(element, depth + 1)
        index += 4 + size


def decode_packet(data: bytes) -> list[tuple[str, list[Any]]]:
    """The messages of one OSC packet (a message, or a bundle flattened), as (address, args).

    Raises:
        ProtocolError: ``bad_packet`` (not OSC, truncated, a malformed bundle, or an unsupported
            type tag).
    """
    check_bundle(data)
    try:
        packet = OscPacket(data)
        return [(timed.message.address, list(timed.message.params)) for timed in packet.messages]
    except Exception as err:  # python-osc raises several ParseError classes and plain errors
        raise ProtocolError(
            ErrorCode.BAD_PACKET, f"not a valid OSC packet ({len(data)} bytes): {err}"
        ) from None


class StreamDeframer:
    """Splits a TCP byte stream into OSC packets (SLIP or length-prefixed, detected)."""

    def __init__(self, max_packet: int = MAX_PACKET_BYTES) -> None:
        self.max_packet = max_packet
        self.slip: bool | None = None
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Yield every complete packet the stream holds after ``data``.

        Raises:
            ProtocolError: ``too_large`` when a packet exceeds ``max_packet`` (the stream cannot be
                trusted afterwards: close it); ``bad_packet`` for a malformed SLIP escape (the
                packet is skipped, the stream goes on).
        """
        self._buffer += data
        if self.slip is None and self._buffer:
            self.slip = self._buffer[0] == SLIP_END
        if self.slip:
            yield from self._slip_packets()
        else:
            yield from self._length_packets()

    def _slip_packets(self) -> Iterator[bytes]:
        while True:
            end = self._buffer.find(SLIP_END)
            if end < 0:
                if len(self._buffer) > self.max_packet:
                    raise ProtocolError(ErrorCode.TOO_LARGE, self._too_large(len(self._buffer)))
                return
            frame = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if len(frame) <= 1:
                continue  # the END that opens a packet
            try:
                yield slip.decode(frame)
            except slip.ProtocolError:
                raise ProtocolError(
                    ErrorCode.BAD_PACKET, f"malformed SLIP frame ({len(frame)} bytes)"
                ) from None

    def _length_packets(self) -> Iterator[bytes]:
        while len(self._buffer) >= 4:
            (length,) = struct.unpack("!I", self._buffer[:4])
            if length > self.max_packet:
                raise ProtocolError(ErrorCode.TOO_LARGE, self._too_large(length))
            if len(self._buffer) < 4 + length:
                return
            packet = bytes(self._buffer[4 : 4 + length])
            del self._buffer[: 4 + length]
            yield packet

    def _too_large(self, size: int) -> str:
        return f"packet of {size} bytes or more, over the limit of {self.max_packet}"

    def frame(self, packet: bytes) -> bytes:
        """``packet`` framed the way this stream's client frames its own."""
        if self.slip is False:
            return struct.pack("!I", len(packet)) + packet
        return slip.encode(packet)


class Channel(Protocol):
    """Where replies and job events for one client go."""

    def send(self, address: str, *args: Any) -> None:
        """Send one message; never raises (a gone client is logged and ignored)."""

    def describe(self) -> str:
        """``udp:host:port`` or ``tcp:host:port`` for logs and status."""


class UdpChannel:
    """Replies as datagrams from the engine's UDP socket to ``(host, port)``."""

    def __init__(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self._sock = sock
        self.address = address

    def send(self, address: str, *args: Any) -> None:
        data = encode_message(address, args)
        if len(data) > MAX_DATAGRAM_BYTES:
            LOG.error(
                "reply %s to %s: %d bytes, too large for UDP", address, self.describe(), len(data)
            )
            if address == Address.ERROR:
                return  # errors are bounded (server.reply_error): never here
            about = str(args[0])[:MAX_ECHOED_ID] if address in _JOB_EVENTS and args else ""
            data = encode_message(
                Address.ERROR,
                [
                    ErrorCode.TOO_LARGE,
                    f"the {address} reply is {len(data)} bytes, more than a UDP datagram holds "
                    f"({MAX_DATAGRAM_BYTES}); ask over TCP (--tcp)",
                    about,
                    "",
                ],
            )
        try:
            self._sock.sendto(data, self.address)
        except OSError as err:
            LOG.warning("reply %s to %s failed: %s", address, self.describe(), err)

    def describe(self) -> str:
        return f"udp:{self.address[0]}:{self.address[1]}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UdpChannel) and other.address == self.address

    def __hash__(self) -> int:
        return hash(("udp", self.address))


class TcpChannel:
    """Replies on an open TCP connection, framed like the client's packets."""

    def __init__(
        self, sock: socket.socket, peer: tuple[str, int], deframer: StreamDeframer
    ) -> None:
        self._sock = sock
        self._deframer = deframer
        self._lock = threading.Lock()
        self.peer = peer
        self.closed = False

    def send(self, address: str, *args: Any) -> None:
        data = self._deframer.frame(encode_message(address, args))
        with self._lock:
            if self.closed:
                LOG.debug("reply %s to closed %s dropped", address, self.describe())
                return
            try:
                self._sock.sendall(data)
            except OSError as err:
                self.closed = True
                LOG.warning("reply %s to %s failed: %s", address, self.describe(), err)

    def close(self) -> None:
        with self._lock:
            self.closed = True

    def describe(self) -> str:
        return f"tcp:{self.peer[0]}:{self.peer[1]}"
