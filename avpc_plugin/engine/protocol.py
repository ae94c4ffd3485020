"""The engine's OSC protocol: addresses, argument signatures, error codes and the job description.

Everything here is transport-free: :func:`parse_request` checks an OSC message's arguments against
its address's signature, :func:`parse_job` turns the JSON job description of ``/avpc/submit`` into
a validated :class:`JobSpec`. Both raise :class:`ProtocolError` with an error code from
:class:`ErrorCode` and a message naming the offending argument or JSON key. ``bridge/PROTOCOL.md``
is the human-readable version of this module; keep them in step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avpc_plugin.audio.io import (
    AUDIO_FILE_EXTENSIONS,
    BIT_DEPTHS,
    VIDEO_CONTAINER_EXTENSIONS,
    WRITE_FORMATS,
    AudioFileError,
    BitDepth,
    audio_info,
    check_output_format,
    is_video_container,
)
from avpc_plugin.presets import load_preset
from avpc_plugin.separate.output import (
    DEFAULT_TEMPLATE,
    TemplateEscapeError,
    check_template,
    output_paths,
)
from avpc_plugin.separate.query import StemQuery
from avpc_plugin.separate.separator import RESIDUAL
from avpc_plugin.stem_settings.schema import MAX_CYCLES

PROTOCOL_VERSION = "1.3"
"""``major.minor``: a client speaking another major version is refused."""
PREFIX = "/avpc"
MAX_JOB_JSON_BYTES = 64 * 1024
"""A job description longer than this (UTF-8 bytes) is refused with ``too_large``."""
MAX_STEMS = 16
MAX_REF_LENGTH = 200
MAX_ECHOED_ID = 64
"""A ``job_id`` echoed in an error reply is cut to this many characters (an ellipsis marks it)."""
MAX_ERROR_MESSAGE = 2000
"""An error message is cut to this many characters: every reply fits one datagram."""
MAX_NAME_BYTES = 255
"""Longest path component (file or folder name) in UTF-8 bytes, as most file systems allow."""
MAX_PATH_BYTES = 4095
"""Longest path in UTF-8 bytes (Linux's PATH_MAX less the NUL)."""
END_SLACK_SECONDS = 1.0
"""How far ``job.end`` may lie past the source's end (it is clipped there); more is refused."""


class Address:
    """OSC addresses. Requests go to the engine; replies and events come back."""

    # requests (client -> engine)
    HELLO = f"{PREFIX}/hello"
    PING = f"{PREFIX}/ping"
    MODELS = f"{PREFIX}/models"
    PRESETS = f"{PREFIX}/presets"
    SUBMIT = f"{PREFIX}/submit"
    CANCEL = f"{PREFIX}/cancel"
    STATUS = f"{PREFIX}/status"
    SHUTDOWN = f"{PREFIX}/shutdown"
    # replies and job events (engine -> client); /models, /presets and /status reply on their own
    # address
    VERSION = f"{PREFIX}/version"
    PONG = f"{PREFIX}/pong"
    ACCEPTED = f"{PREFIX}/accepted"
    PROGRESS = f"{PREFIX}/progress"
    STEM = f"{PREFIX}/stem"
    DONE = f"{PREFIX}/done"
    CANCELLED = f"{PREFIX}/cancelled"
    ERROR = f"{PREFIX}/error"
    BYE = f"{PREFIX}/bye"


REPLY_ADDRESSES = frozenset(
    {
        Address.VERSION,
        Address.PONG,
        Address.ACCEPTED,
        Address.PROGRESS,
        Address.STEM,
        Address.DONE,
        Address.CANCELLED,
        Address.ERROR,
        Address.BYE,
    }
)
"""Addresses the engine sends and never answers (the replies of /models, /presets and /status
share their request's address, so they are requests here)."""


class ErrorCode:
    """The ``code`` argument of ``/avpc/error``."""

    BAD_PACKET = "bad_packet"  # not an OSC message / bundle, or truncated
    TOO_LARGE = "too_large"  # a packet or job description over the limit
    UNKNOWN_ADDRESS = "unknown_address"  # not one of the request addresses
    BAD_ARGUMENTS = "bad_arguments"  # wrong argument count or types
    BAD_JSON = "bad_json"  # the job description is not a JSON object
    INVALID_JOB = "invalid_job"  # a key is missing, unknown or has a bad value
    VERSION_MISMATCH = "version_mismatch"  # the job asks for another protocol major version
    BAD_SOURCE = "bad_source"  # source / video missing, not a file, or not readable media
    PATH_ESCAPE = "path_escape"  # an output path would leave the output folder
    OUTPUT_EXISTS = "output_exists"  # an output file exists and overwrite is false
    OUTPUT_FAILED = "output_failed"  # an output folder or file cannot be written
    QUEUE_FULL = "queue_full"
    UNKNOWN_JOB = "unknown_job"  # cancel / status of an id the engine does not know
    JOB_FINISHED = "job_finished"  # cancel of a job that already ended
    SEPARATION_FAILED = "separation_failed"  # the separation itself raised
    ENGINE_SHUTDOWN = "engine_shutdown"  # the engine stopped before the job finished
    INTERNAL = "internal"  # a bug: the engine logged a traceback


class ProtocolError(ValueError):
    """A request the engine refuses; ``code`` is an :class:`ErrorCode` value, ``ref`` the refused
    job's own tag when known."""

    def __init__(self, code: str, message: str, ref: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


# ------------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class Signature:
    """Argument types of a request: required ``(name, type)`` pairs, then optional ones.

    Types are ``str``, ``int`` (OSC ``i`` / ``h``; a bool is not an int) and ``float`` (``f`` /
    ``d``; an int is accepted). Optional arguments may be left off from the end only.
    """

    required: tuple[tuple[str, type], ...] = ()
    optional: tuple[tuple[str, type], ...] = ()

    def describe(self) -> str:
        parts = [f"{name}:{_TYPE_TAG[kind]}" for name, kind in self.required]
        parts += [f"[{name}:{_TYPE_TAG[kind]}]" for name, kind in self.optional]
        return " ".join(parts) or "(no arguments)"


_TYPE_TAG = {str: "s", int: "i", float: "f"}
_REPLY_PORT = ("reply_port", int)

REQUESTS: dict[str, Signature] = {
    Address.HELLO: Signature(optional=(_REPLY_PORT,)),
    Address.PING: Signature(optional=(_REPLY_PORT,)),
    Address.MODELS: Signature(optional=(_REPLY_PORT,)),
    Address.PRESETS: Signature(optional=(_REPLY_PORT,)),
    Address.SUBMIT: Signature(required=(("job", str),), optional=(_REPLY_PORT,)),
    Address.CANCEL: Signature(required=(("job_id", str),), optional=(_REPLY_PORT,)),
    Address.STATUS: Signature(optional=(("job_id", str), _REPLY_PORT)),
    Address.SHUTDOWN: Signature(optional=(_REPLY_PORT,)),
}
"""Every request address and its arguments."""


@dataclass(frozen=True)
class Request:
    """A checked request: its address, named arguments and the reply port it names (or None)."""

    address: str
    args: dict[str, Any]
    reply_port: int | None


def _matches(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def _osc_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (bytes, bytearray)):
        return "blob"
    return type(value).__name__


def parse_request(address: str, args: Sequence[Any]) -> Request:
    """Check an OSC request against its signature.

    Status is special: ``/avpc/status i`` is a reply port, ``/avpc/status s [i]`` a job id.

    Raises:
        ProtocolError: ``unknown_address`` or ``bad_arguments`` (naming the argument, the expected
            and the received type).
    """
    signature = REQUESTS.get(address)
    if signature is None:
        known = ", ".join(sorted(REQUESTS))
        raise ProtocolError(
            ErrorCode.UNKNOWN_ADDRESS, f"{address!r} is not a request address; known: {known}"
        )
    slots = list(signature.required) + list(signature.optional)
    if address == Address.STATUS and len(args) == 1 and _matches(args[0], int):
        slots = [_REPLY_PORT]
    if not len(signature.required) <= len(args) <= len(slots):
        raise ProtocolError(
            ErrorCode.BAD_ARGUMENTS,
            f"{address}: expected {signature.describe()}, got {len(args)} argument(s)",
        )
    values: dict[str, Any] = {}
    for (name, kind), value in zip(slots, args, strict=False):
        if not _matches(value, kind):
            raise ProtocolError(
                ErrorCode.BAD_ARGUMENTS,
                f"{address}: argument {name!r} must be OSC type {_TYPE_TAG[kind]!r}, "
                f"got {_osc_type_name(value)} {_short(value)}",
            )
        values[name] = value
    reply_port = values.pop("reply_port", None)
    if reply_port is not None and not 1 <= reply_port <= 65535:
        raise ProtocolError(
            ErrorCode.BAD_ARGUMENTS, f"{address}: reply_port must be in 1..65535, got {reply_port}"
        )
    return Request(address, values, reply_port)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, an ellipsis (``…``) marking a cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "\u2026"


# ----------------------------------------------------------------------------------------- jobs

JOB_KEYS = (
    "protocol",
    "ref",
    "source",
    "video",
    "start",
    "end",
    "stems",
    "residual",
    "normalise",
    "cycles",
    "out_dir",
    "template",
    "format",
    "bit_depth",
    "overwrite",
    "video_tolerance",
    "dither",
)
"""Keys of a job description (see ``bridge/PROTOCOL.md``); any other key is refused."""
STEM_KEYS = ("name", "preset", "video", "box", "offset")


@dataclass(frozen=True)
class JobSpec:
    """A validated job description.

    Attributes:
        source: audio file or video container with an audio track (absolute path).
        stems: the visual query of each stem (a stem without video uses ``source``).
        out_dir: output folder (absolute, resolved at submit); every output is written inside it
            as it resolved then (checked again right before each file's rename).
        outputs: stem name (and ``"residual"``) -> output file, inside ``out_dir``.
        start, end: seconds of the source to separate (None: its start / end).
        residual, normalise, cycles: as :meth:`Separator.separate_to_files`.
        bit_depth: ``"16"``, ``"24"`` or ``"32f"``.
        overwrite: replace existing output files.
        video_tolerance: seconds a video may fall short of the audio range before the held
            frames are reported (None: the engine's Separator's setting).
        dither: TPDF dither for 16 and 24 bit (False: plain rounding).
        ref: the client's own tag for the job, echoed in ``/avpc/accepted``.
    """

    source: Path
    stems: tuple[StemQuery, ...]
    out_dir: Path
    outputs: dict[str, Path]
    start: float | None = None
    end: float | None = None
    residual: bool = False
    normalise: bool = False
    cycles: int | None = None
    bit_depth: BitDepth = "24"
    overwrite: bool = False
    video_tolerance: float | None = None
    dither: bool = True
    ref: str = ""

    def existing_outputs(self) -> list[Path]:
        """Output files that exist already."""
        return [path for path in self.outputs.values() if path.exists()]


def _invalid(key: str, message: str, code: str = ErrorCode.INVALID_JOB) -> ProtocolError:
    return ProtocolError(code, f"job.{key}: {message}")


def _get_type(job: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = job.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise _invalid(key, f"expected {what}, got {_short(value)}")
    if not isinstance(value, kind):
        raise _invalid(key, f"expected {what}, got {_short(value)}")
    return value


def _seconds(job: Mapping[str, Any], key: str) -> float | None:
    value = _get_type(job, key, (int, float), "seconds (a number) or null")
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        raise _invalid(key, f"expected a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _flag(job: Mapping[str, Any], key: str) -> bool:
    return bool(_get_type(job, key, bool, "true or false") or False)


def _check_path_length(value: str, key: str) -> None:
    """Refuse a path with a name over :data:`MAX_NAME_BYTES` or a length over
    :data:`MAX_PATH_BYTES` (the file system would refuse it with ENAMETOOLONG)."""
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_PATH_BYTES:
        raise _invalid(key, f"path of {size} bytes, over the limit of {MAX_PATH_BYTES}")
    for part in Path(value).parts:
        length = len(part.encode("utf-8", "surrogatepass"))
        if length > MAX_NAME_BYTES:
            raise _invalid(
                key,
                f"the name {clip_text(part, 40)!r} is {length} bytes long, over the "
                f"{MAX_NAME_BYTES} a file system allows",
            )


def _media_path(value: Any, key: str, extensions: Sequence[str]) -> Path:
    if not isinstance(value, str) or not value:
        raise _invalid(key, f"expected an absolute file path, got {_short(value)}")
    path = Path(value)
    if not path.is_absolute():
        raise _invalid(
            key, f"{value!r} is relative; give an absolute path (the engine has its own folder)"
        )
    _check_path_length(value, key)
    try:
        is_file = path.is_file()
    except OSError as err:
        raise _invalid(key, f"{value}: cannot be looked up ({err.strerror or err})") from None
    if not is_file:
        raise _invalid(key, f"{value}: no such file", ErrorCode.BAD_SOURCE)
    if path.suffix.lower() not in extensions:
        raise _invalid(
            key,
            f"{value}: not a media file this engine reads (expected {', '.join(extensions)})",
            ErrorCode.BAD_SOURCE,
        )
    return path


def resolve_inside(folder: Path, target: Path, what: str) -> Path:
    """``target`` resolved (symlinks followed), checked to lie inside ``folder`` (resolved).

    Raises:
        ProtocolError: ``path_escape``.
    """
    resolved_folder = folder.resolve()
    resolved = target.resolve()
    if not resolved.is_relative_to(resolved_folder):
        raise ProtocolError(
            ErrorCode.PATH_ESCAPE,
            f"{what}: {target} leads outside the output folder {resolved_folder}",
        )
    return resolved


def parse_job(text: str, output_root: Path | None = None) -> JobSpec:
    """Validate a JSON job description (the argument of ``/avpc/submit``).

    Args:
        text: the JSON object, see ``bridge/PROTOCOL.md``.
        output_root: if set, ``out_dir`` must lie inside this folder (the engine's
            ``--output-root``).

    Raises:
        ProtocolError: ``too_large``, ``bad_json``, ``invalid_job``, ``version_mismatch``,
            ``bad_source`` or ``path_escape``, with a message naming the key.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_JOB_JSON_BYTES:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"job: {size} bytes of JSON, more than the limit of {MAX_JOB_JSON_BYTES}",
        )
    try:
        job = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise ProtocolError(ErrorCode.BAD_JSON, f"job: not valid JSON ({err})") from None
    if not isinstance(job, dict):
        raise ProtocolError(
            ErrorCode.BAD_JSON, f"job: expected a JSON object, got {type(job).__name__}"
        )
    _check_text(job, "")
    unknown = sorted(set(job) - set(JOB_KEYS))
    if unknown:
        raise _invalid(unknown[0], f"unknown key (known keys: {', '.join(JOB_KEYS)})")

    protocol = _get_type(job, "protocol", str, "a version string such as '1.0'")
    if protocol is not None and protocol.split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
        raise _invalid(
            "protocol",
            f"this engine speaks protocol {PROTOCOL_VERSION}, the job asks for {protocol}",
            ErrorCode.VERSION_MISMATCH,
        )
    ref = _get_type(job, "ref", str, "a string") or ""
    if len(ref) > MAX_REF_LENGTH:
        raise _invalid("ref", f"at most {MAX_REF_LENGTH} characters, got {len(ref)}")

    if "source" not in job:
        raise _invalid("source", "missing (the audio or video file to separate)")
    media = AUDIO_FILE_EXTENSIONS + VIDEO_CONTAINER_EXTENSIONS
    source = _media_path(job["source"], "source", media)
    default_video = (
        _media_path(job["video"], "video", VIDEO_CONTAINER_EXTENSIONS)
        if job.get("video") is not None
        else None
    )
    start, end = _seconds(job, "start"), _seconds(job, "end")
    if start is not None and end is not None and end <= start:
        raise _invalid("end", f"must be after start ({start} s), got {end} s")
    if start is not None or end is not None:
        _check_range(source, start, end)

    stems = _parse_stems(job.get("stems"), default_video, source)
    residual, normalise = _flag(job, "residual"), _flag(job, "normalise")
    cycles = _get_type(job, "cycles", int, "a whole number of PCNet cycles >= 1")
    if cycles is not None and not 1 <= cycles <= MAX_CYCLES:
        raise _invalid("cycles", f"expected 1 to {MAX_CYCLES}, got {cycles}")

    out_value = job.get("out_dir")
    if not isinstance(out_value, str) or not out_value:
        raise _invalid("out_dir", f"expected an absolute folder path, got {_short(out_value)}")
    out_dir = Path(out_value)
    if not out_dir.is_absolute():
        raise _invalid("out_dir", f"{out_value!r} is relative; give an absolute path")
    _check_path_length(out_value, "out_dir")
    try:
        if output_root is not None:
            out_dir = resolve_inside(output_root, out_dir, "job.out_dir")
        else:
            out_dir = out_dir.resolve()  # outputs are written where they resolve now, only there
        if out_dir.exists() and not out_dir.is_dir():
            raise _invalid("out_dir", f"{out_dir} exists and is not a folder")
    except OSError as err:
        raise _invalid("out_dir", f"{out_value}: cannot be used ({err.strerror or err})") from None

    template = _get_type(job, "template", str, "a template string") or DEFAULT_TEMPLATE
    fmt = _get_type(job, "format", str, f"one of {', '.join(WRITE_FORMATS)}") or "wav"
    bit_depth = _get_type(job, "bit_depth", str, f"one of {', '.join(BIT_DEPTHS)}") or "24"
    try:
        check_template(template)
        check_output_format(fmt, bit_depth)
    except ValueError as err:
        raise _invalid("template" if "template" in str(err) else "format", str(err)) from None
    overwrite = _flag(job, "overwrite")
    video_tolerance = _seconds(job, "video_tolerance")
    dither = _get_type(job, "dither", bool, "true or false")

    names = [stem.name for stem in stems] + ([RESIDUAL] if residual else [])
    try:
        relative = output_paths(out_dir, template, source.stem, names, fmt)
    except TemplateEscapeError as err:
        raise ProtocolError(ErrorCode.PATH_ESCAPE, f"job.template: {err}") from None
    except ValueError as err:
        raise _invalid("template", str(err)) from None
    try:
        outputs = {
            name: resolve_inside(out_dir, path, f"job.template {template!r} for stem {name!r}")
            for name, path in relative.items()
        }
        for path in outputs.values():
            _check_path_length(str(path), "template")
    except OSError as err:
        raise _invalid("template", f"an output path cannot be used ({err.strerror})") from None
    spec = JobSpec(
        source=source,
        stems=tuple(stems),
        out_dir=out_dir,
        outputs=outputs,
        start=start,
        end=end,
        residual=residual,
        normalise=normalise,
        cycles=cycles,
        bit_depth=bit_depth,  # type: ignore[arg-type]
        overwrite=overwrite,
        video_tolerance=video_tolerance,
        dither=True if dither is None else dither,
        ref=ref,
    )
    try:
        existing = spec.existing_outputs()
    except OSError as err:
        raise _invalid("out_dir", f"an output path cannot be used ({err.strerror})") from None
    if existing and not overwrite:
        raise ProtocolError(
            ErrorCode.OUTPUT_EXISTS,
            f'job: {existing[0]} already exists (set "overwrite": true to replace it)',
        )
    return spec


def media_duration(path: Path) -> float:
    """Seconds of a source's audio: read from an audio file's header, estimated from a video
    container's (or ``.m4a``'s) metadata without decoding it (0.0 when the container has none).

    Raises:
        AudioFileError: the file cannot be read as media.
    """
    if not is_video_container(path) and path.suffix.lower() != ".m4a":
        return audio_info(path).duration
    import av  # deferred: PyAV only for the duration of a container

    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if streams and streams[0].duration is not None and streams[0].time_base:
                return float(streams[0].duration * streams[0].time_base)
            return container.duration / 1_000_000 if container.duration else 0.0
    except av.FFmpegError as err:
        raise AudioFileError(f"{path}: cannot open as a media file ({err})") from err


def _check_range(source: Path, start: float | None, end: float | None) -> None:
    """Refuse a ``start`` at or past the source's end, or an ``end`` more than
    :data:`END_SLACK_SECONDS` past it (a container's length is an estimate: its slack too)."""
    try:
        duration = media_duration(source)
    except AudioFileError as err:
        raise _invalid("source", str(err), ErrorCode.BAD_SOURCE) from None
    if duration <= 0:
        return  # a container that does not say: checked when the job runs
    slack = END_SLACK_SECONDS if is_video_container(source) else 0.0
    if start is not None and start >= duration + slack:
        raise _invalid(
            "start", f"{start} s is at or past the end of {source.name} ({duration:.3f} s long)"
        )
    if end is not None and end > duration + END_SLACK_SECONDS:
        raise _invalid(
            "end",
            f"{end} s is past the end of {source.name} ({duration:.3f} s long; an end up to "
            f"{END_SLACK_SECONDS:g} s past it is taken as the end)",
        )


def osc_text_fault(text: str) -> str | None:
    """What an OSC string (or a file name) cannot carry in ``text``, or None: a NUL (it ends an
    OSC string) or a lone UTF-16 surrogate (half of an emoji cut off; UTF-8 cannot encode it)."""
    if "\x00" in text:
        return "holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone UTF-16 surrogate (a character cut in half)"
    return None


def _check_text(value: Any, key: str) -> None:
    """Refuse every string of a job that :func:`osc_text_fault` finds fault with."""
    if isinstance(value, str):
        fault = osc_text_fault(value)
        if fault is not None:
            raise _invalid(key or "job", fault)
    elif isinstance(value, dict):
        for name, item in value.items():
            _check_text(name, key or "job")
            _check_text(item, f"{key}.{name}" if key else name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{key}[{index}]")


def _parse_stems(value: Any, default_video: Path | None, source: Path) -> list[StemQuery]:
    if not isinstance(value, list) or not value:
        raise _invalid("stems", f"expected a non-empty list of stem objects, got {_short(value)}")
    if len(value) > MAX_STEMS:
        raise _invalid("stems", f"at most {MAX_STEMS} stems per job, got {len(value)}")
    stems: list[StemQuery] = []
    for index, item in enumerate(value):
        key = f"stems[{index}]"
        if not isinstance(item, dict):
            raise _invalid(key, f"expected an object with a 'name', got {_short(item)}")
        unknown = sorted(set(item) - set(STEM_KEYS))
        if unknown:
            raise _invalid(
                f"{key}.{unknown[0]}", f"unknown key (known keys: {', '.join(STEM_KEYS)})"
            )
        video = (
            _media_path(item["video"], f"{key}.video", VIDEO_CONTAINER_EXTENSIONS)
            if item.get("video") is not None
            else default_video
        )
        if video is None and not is_video_container(source):
            raise _invalid(
                f"{key}.video",
                f"stem {item.get('name')!r} needs a video: the source {source.name} is an audio "
                "file (give 'video' in the stem or the job)",
            )
        preset_name = item.get("preset")
        if preset_name is not None and not isinstance(preset_name, str):
            raise _invalid(f"{key}.preset", f"expected a preset name, got {_short(preset_name)}")
        box = item.get("box")
        if box is not None and not (isinstance(box, list) and all(_matches(v, float) for v in box)):
            raise _invalid(
                f"{key}.box", f"expected [x, y, w, h] numbers or null, got {_short(box)}"
            )
        offset = item.get("offset", 0.0)
        if not _matches(offset, float) or not math.isfinite(offset):
            raise _invalid(f"{key}.offset", f"expected seconds (a number), got {_short(offset)}")
        try:
            preset = None if preset_name is None else load_preset(preset_name)
            stems.append(
                StemQuery(name=item.get("name"), video=video, box=box, offset=offset, preset=preset)  # type: ignore[arg-type]
            )
        except ValueError as err:
            raise _invalid(key, str(err)) from None
    names = [stem.name for stem in stems]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise _invalid("stems", f"duplicate stem name(s) {', '.join(duplicates)}")
    return stems
