"""Reading, resampling and writing audio files.

Arrays are float32 ``(channels, samples)`` with linear amplitude (full scale = 1.0) and the
file's own sample rate, as pedalboard returns them.

* Audio files (wav, flac, aiff, mp3, ogg) are read with pedalboard, in blocks when asked
  (:class:`AudioReader`), so a two-hour concert never has to sit in memory at once.
* The audio track of a video container (mp4, mov, mkv, ...) is decoded with PyAV. Containers
  cannot be sought sample-exactly, so :class:`AudioReader` decodes such a track once, in a single
  streaming pass, into a temporary float32 wav next to nothing else (the system temp folder) and
  reads that; the temporary file is removed on ``close()``.
* Resampling uses :func:`scipy.signal.resample_poly` (polyphase FIR, Kaiser window) rather than
  pedalboard's resampler: it takes exact rational ratios (44100 -> 11025 is 1/4, 48000 -> 11025 is
  147/640), its filter is linear phase with the delay removed, so output sample ``n`` sits exactly
  at input time ``n * orig_rate / target_rate`` (masks estimated at the model rate line up with the
  full-rate audio to the sample), and it works on any array, so a window can be resampled on its
  own and give the same samples as resampling the whole file (:func:`resample_span`).
* Files are written with pedalboard (wav, flac, aiff at 16 or 24 bit; wav also at 32-bit float),
  always to a temporary file in the destination folder that is renamed over the final name only
  once complete (:class:`AtomicAudioWriter`), so no partial file ever carries a final name.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from scipy.signal import resample_poly

from avpc_plugin.audio.provenance import StemProvenance, embed_provenance

AUDIO_FILE_EXTENSIONS = (".wav", ".flac", ".aiff", ".aif", ".mp3", ".ogg", ".m4a")
"""Audio files: read with pedalboard, except the MP4 audio of ``.m4a`` (AAC, ALAC), which PyAV
decodes as it does a video container's track."""
_PYAV_AUDIO_EXTENSIONS = (".m4a",)
VIDEO_CONTAINER_EXTENSIONS = (".mp4", ".mov", ".mkv", ".m4v", ".webm", ".avi")
"""Video containers whose audio track is decoded with PyAV."""
WRITE_FORMATS = ("wav", "flac", "aiff")
"""Formats :func:`write_audio` writes."""
BitDepth = Literal["16", "24", "32f"]
BIT_DEPTHS: tuple[BitDepth, ...] = ("16", "24", "32f")
"""Sample formats: 16-bit int, 24-bit int, 32-bit float (wav only)."""

_PEDALBOARD_BIT_DEPTH = {"16": 16, "24": 24, "32f": 32}
DITHER_SEED = 20261208
"""Fixed seed of the TPDF dither, mixed with the output file's name: the same stem written to the
same name gives the same bytes, and stems of one take get independent dither."""
_CONTAINER_BLOCK = 1 << 16  # samples per block when copying a container's track


class AudioFileError(Exception):
    """An audio file that cannot be read or written; the message names the file and the reason."""


class AudioWarning(UserWarning):
    """Something about the audio the user should hear of, though the work went on: an input
    repaired (non-finite samples, data shorter than the header) or an output clipped."""


class InputRepairWarning(AudioWarning):
    """An input read only after a repair: data shorter than its header or its container says
    (a truncated file), non-finite samples read as silence, a video's last frame held past its
    end. ``avpc separate --strict`` turns these into failures (``warnings`` filter ``"error"``)."""


class AudioWriteError(AudioFileError):
    """An output file or its folder that cannot be written (permissions, disk full, name too
    long): a fault of the destination, not of the source."""


class OutputExistsError(FileExistsError):
    """An output file exists and overwriting was not asked for; ``path`` is the file."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: already exists (pass overwrite / --overwrite)")
        self.path = path


@dataclass(frozen=True)
class AudioInfo:
    """What a readable audio source holds.

    Attributes:
        path: the file.
        sample_rate: samples per second (Hz).
        channels: number of channels.
        frames: samples per channel.
    """

    path: Path
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def _decoded_with_pyav(path: str | os.PathLike[str]) -> bool:
    """True for a video container or an ``.m4a``: their audio is decoded with PyAV."""
    return is_video_container(path) or Path(path).suffix.lower() in _PYAV_AUDIO_EXTENSIONS


def is_video_container(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` has a video container extension (its audio track is read with PyAV)."""
    return Path(path).suffix.lower() in VIDEO_CONTAINER_EXTENSIONS


# ------------------------------------------------------------------------------------------ reading


class AudioReader:
    """Random access to the samples of an audio file or a video container's audio track.

    Use as a context manager (or call :meth:`close`)::

        with AudioReader("concert.mp4") as reader:
            block = reader.read(0, reader.info.sample_rate)   # first second, (channels, samples)

    Raises:
        AudioFileError: the file is missing, unreadable, or (containers) has no audio track.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise AudioFileError(f"{self.path}: no such file")
        if self.path.stat().st_size == 0:
            raise AudioFileError(f"{self.path}: empty file (0 bytes)")
        self._temp_dir: Path | None = None
        self._file: Any = None
        source = self.path
        try:  # a warning turned into an error (--strict) too: no open file, no temporary copy
            stated: float | None = None
            problem: str | None = None
            if _decoded_with_pyav(self.path):
                self._temp_dir = Path(tempfile.mkdtemp(prefix="avpc-audio-"))
                source = self._temp_dir / "track.wav"
                stated, problem = _copy_container_track(self.path, source)
            self._file = _open_pedalboard(source, display=self.path)
            self.info = _pedalboard_info(self._file, source, self.path, warn=True)
            if stated is not None or problem is not None:
                _warn_container_shortfall(self.info, stated, problem)
        except BaseException:
            self.close()
            raise

    def read(self, start: int, frames: int) -> np.ndarray:
        """Samples ``[start, start + frames)`` as float32 ``(channels, frames)``.

        Positions past the end of the file give zeros (so callers may ask for margins).

        Args:
            start: first sample (may be negative: zeros before the start).
            frames: number of samples, >= 0.
        """
        if frames < 0:
            raise ValueError(f"frames: expected a count >= 0, got {frames}")
        out = np.zeros((self.info.channels, frames), dtype=np.float32)
        lo, hi = max(start, 0), min(start + frames, self.info.frames)
        if hi > lo:
            try:
                self._file.seek(lo)
                data = self._file.read(hi - lo)
            except Exception as err:
                raise AudioFileError(f"{self.path}: cannot read samples {lo}..{hi}: {err}") from err
            out[:, lo - start : lo - start + data.shape[1]] = data
        return out

    def close(self) -> None:
        """Close the file and remove any temporary copy of a container's track."""
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()
            self._file = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Sample rate, channels and length of an audio file or a container's audio track.

    For a video container this decodes the whole track (PyAV's durations are estimates).
    """
    if _decoded_with_pyav(path):
        rate, channels, frames = 0, 0, 0
        for block, block_rate in _decode_container_track(Path(path)):
            rate, channels = block_rate, block.shape[0]
            frames += block.shape[1]
        return AudioInfo(Path(path), rate, channels, frames)
    with _open_pedalboard(Path(path), display=Path(path)) as file:
        return _pedalboard_info(file, Path(path), Path(path), warn=False)  # the reader warns


def read_audio(
    path: str | os.PathLike[str], start: float | None = None, end: float | None = None
) -> tuple[np.ndarray, int]:
    """Read a whole audio file (or the ``[start, end)`` seconds of it) into memory.

    Args:
        path: a wav / flac / aiff / mp3 / ogg file, or a video container with an audio track.
        start: first second to read (default 0).
        end: second to stop at (default: the end of the file; clipped to it).

    Returns:
        ``(audio, sample_rate)``: float32 ``(channels, samples)`` and the file's rate in Hz.

    Raises:
        AudioFileError: missing or unreadable file, or a container without an audio track.
        ValueError: ``start`` / ``end`` outside the file or ``end <= start``.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    if _decoded_with_pyav(path) and start is None and end is None:
        blocks, rate = [], 0
        for block, block_rate in _decode_container_track(path):
            blocks.append(block)
            rate = block_rate
        return np.concatenate(blocks, axis=1), rate
    with AudioReader(path) as reader:
        first, stop = time_range_to_samples(start, end, reader.info)
        return reader.read(first, stop - first), reader.info.sample_rate


def time_range_to_samples(
    start: float | None, end: float | None, info: AudioInfo
) -> tuple[int, int]:
    """Sample range ``[first, stop)`` for a time range in seconds (``None`` = file start / end).

    Raises:
        ValueError: ``start`` is negative or past the end, or ``end <= start`` (names ``start`` /
            ``end`` and the file's duration).
    """
    first = 0 if start is None else round(start * info.sample_rate)
    stop = info.frames if end is None else min(round(end * info.sample_rate), info.frames)
    if first < 0 or first >= info.frames:
        raise ValueError(
            f"start: {start} s is outside {info.path} (duration {info.duration:.3f} s)"
        )
    if stop <= first:
        raise ValueError(f"end: {end} s must be after start ({start or 0} s) in {info.path}")
    return first, stop


def _pedalboard_info(file: Any, source: Path, display: Path, warn: bool) -> AudioInfo:
    """What an open pedalboard file holds; a WAV shorter than its header (pedalboard would pad
    the missing end with zeros) counts what it really holds, with a warning if ``warn``."""
    frames = int(file.frames)
    held = _wav_frames_held(source)
    if held is not None and held < frames:
        if warn:
            warnings.warn(
                f"{display}: the file holds {held} samples ({held / file.samplerate:.2f} s) "
                f"though its header promises {frames}; reading the {held} (a truncated file?)",
                InputRepairWarning,
                stacklevel=3,
            )
        frames = held
    return AudioInfo(display, round(file.samplerate), int(file.num_channels), frames)


def _wav_frames_held(path: Path) -> int | None:
    """Whole sample frames a RIFF WAV file's data chunk really holds (it may be shorter than its
    header says, after a crash or a cut-off copy); None for other files or an unreadable layout."""
    if path.suffix.lower() != ".wav":
        return None
    size = path.stat().st_size
    with path.open("rb") as handle:
        if handle.read(4) != b"RIFF" or handle.read(8)[4:] != b"WAVE":
            return None
        block_align = 0
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return None
            chunk, length = header[:4], int.from_bytes(header[4:], "little")
            if chunk == b"fmt " and length >= 14:
                block_align = int.from_bytes(handle.read(14)[12:14], "little")
                handle.seek(length - 14 + (length & 1), os.SEEK_CUR)
            elif chunk == b"data":
                if block_align == 0:
                    return None
                return min(length, size - handle.tell()) // block_align
            else:
                handle.seek(length + (length & 1), os.SEEK_CUR)


def _open_pedalboard(path: Path, display: Path) -> Any:
    from pedalboard.io import AudioFile  # deferred: pedalboard (JUCE) only to open a file

    if not path.is_file():
        raise AudioFileError(f"{display}: no such file")
    try:
        return AudioFile(str(path))
    except Exception as err:
        raise AudioFileError(f"{display}: cannot read audio ({err})") from err


SHORTFALL_TOLERANCE = 0.1
"""Seconds a container's audio track may decode short of the duration the container states
before it counts as truncated (codec frames and priming differ by some tens of milliseconds)."""


@dataclass
class _TrackFacts:
    """What decoding a container's audio track found besides the samples."""

    stated: float | None = None
    """Seconds of audio the container says the track holds (None: it does not say)."""
    problem: str | None = None
    """Why decoding stopped early (a damaged or cut-off tail), if it did."""


def _decode_container_track(
    path: Path, facts: _TrackFacts | None = None
) -> Iterator[tuple[np.ndarray, int]]:
    """Decode the first audio stream of a container: float32 ``(channels, n)`` blocks + rate.

    A decoding error after some samples (a cut-off or damaged tail) ends the track there; it is
    recorded in ``facts`` (with the duration the container states) for the caller to report.
    """
    import av  # deferred: PyAV only for the audio track of a video container

    facts = facts if facts is not None else _TrackFacts()
    try:
        container = av.open(str(path))
    except Exception as err:
        raise AudioFileError(f"{path}: cannot open as a media file ({err})") from err
    with container:
        if not container.streams.audio:
            raise AudioFileError(f"{path}: no audio track")
        stream = container.streams.audio[0]
        facts.stated = _stated_seconds(container, stream)
        resampler = None
        try:
            for frame in container.decode(stream):
                if resampler is None:
                    resampler = av.AudioResampler(
                        format="fltp", layout=frame.layout.name, rate=frame.sample_rate
                    )
                for converted in resampler.resample(frame):
                    yield converted.to_ndarray().astype(np.float32, copy=False), frame.sample_rate
        except (av.FFmpegError, ValueError) as err:
            if resampler is None:
                raise AudioFileError(f"{path}: cannot decode its audio track ({err})") from err
            facts.problem = f"a damaged or cut-off packet: {type(err).__name__}"
        if resampler is None:
            raise AudioFileError(f"{path}: the audio track holds no samples")
        for converted in resampler.resample(None):
            yield converted.to_ndarray().astype(np.float32, copy=False), stream.rate


def _stated_seconds(container: Any, stream: Any) -> float | None:
    """The duration a container states for its audio stream: the stream's own, a Matroska
    ``DURATION`` tag (less the stream's start), or the container's when the stream is its only
    one."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION") or (stream.metadata or {}).get("duration")
    if tag:  # Matroska: where the track ends, counted from the file's time zero
        try:
            hours, minutes, seconds = str(tag).split(":")
            start = stream.start_time * stream.time_base if stream.start_time is not None else 0
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds) - float(start)
        except (TypeError, ValueError):
            pass
    if container.duration is not None and len(container.streams) == 1:
        return float(container.duration / 1_000_000)
    return None


def _warn_container_shortfall(info: AudioInfo, stated: float | None, problem: str | None) -> None:
    """An :class:`InputRepairWarning` if a container's audio decoded short of what it states."""
    short = stated is not None and info.duration < stated - SHORTFALL_TOLERANCE
    if not short and problem is None:
        return
    said = f"the container says {stated:.2f} s of audio but " if stated is not None else ""
    why = f" (decoding stopped: {problem})" if problem is not None else ""
    warnings.warn(
        f"{info.path}: {said}only {info.duration:.2f} s decodes{why}; reading the "
        f"{info.duration:.2f} s (a truncated file?)",
        InputRepairWarning,
        stacklevel=3,
    )


def _copy_container_track(path: Path, destination: Path) -> tuple[float | None, str | None]:
    """Decode a container's audio track into a float32 wav, one block at a time; returns the
    duration the container states (or None) and why decoding stopped early (or None)."""
    from pedalboard.io import AudioFile  # deferred: pedalboard (JUCE) only to write a file

    facts = _TrackFacts()
    writer = None
    try:
        for block, rate in _decode_container_track(path, facts):
            if writer is None:
                writer = AudioFile(str(destination), "w", rate, block.shape[0], bit_depth=32)
            writer.write(block)
    finally:
        if writer is not None:
            writer.close()
    return facts.stated, facts.problem


# ------------------------------------------------------------------------------ resampling


def resample_ratio(orig_rate: int, target_rate: int) -> tuple[int, int]:
    """``(up, down)`` in lowest terms with ``target_rate / orig_rate == up / down``."""
    for name, rate in (("orig_rate", orig_rate), ("target_rate", target_rate)):
        if not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise ValueError(f"{name}: expected a positive integer sample rate (Hz), got {rate!r}")
    common = math.gcd(int(orig_rate), int(target_rate))
    return int(target_rate) // common, int(orig_rate) // common


def resample(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample along the last axis with a zero-phase polyphase filter.

    Args:
        audio: float array ``(..., samples)``.
        orig_rate: its sample rate (Hz).
        target_rate: the rate wanted (Hz).

    Returns:
        float32 ``(..., ceil(samples * target_rate / orig_rate))``; output sample ``n`` is the
        band-limited input at time ``n / target_rate`` s. The input itself if the rates agree.
    """
    up, down = resample_ratio(orig_rate, target_rate)
    if up == down:
        return np.asarray(audio, dtype=np.float32)
    return resample_poly(audio, up, down, axis=-1).astype(np.float32, copy=False)


def resample_span(
    read: Callable[[int, int], np.ndarray],
    orig_rate: int,
    target_rate: int,
    out_start: int,
    out_stop: int,
    length: int,
) -> np.ndarray:
    """Output samples ``[out_start, out_stop)`` of resampling a long signal, reading only near them.

    Gives the same samples (to float rounding) as ``resample(whole_signal, ...)[..., out_start:
    out_stop]`` while reading a slice of the input a few dozen samples wider than the span: the
    slice starts at a multiple of ``down`` so its own output grid is the global one, and it is
    wider than the filter on both sides. Output past the resampled length is zero.

    Args:
        read: ``read(start, count)`` returns input samples ``[start, start + count)`` as
            ``(..., count)`` (zeros outside the signal are fine), e.g. ``AudioReader.read``.
        orig_rate, target_rate: sample rates (Hz).
        out_start, out_stop: output sample range, ``0 <= out_start <= out_stop``.
        length: input samples of the whole signal.

    Returns:
        float32 ``(..., out_stop - out_start)``.
    """
    up, down = resample_ratio(orig_rate, target_rate)
    if not 0 <= out_start <= out_stop:
        raise ValueError(
            f"out_start, out_stop: expected 0 <= start <= stop, got {out_start}, {out_stop}"
        )
    if up == down:
        first, stop = min(out_start, length), min(out_stop, length)
        block = read(first, stop - first)
        return np.pad(block, [(0, 0)] * (block.ndim - 1) + [(0, out_stop - stop)]).astype(
            np.float32
        )
    margin = 10 * max(up, down) // up + 2  # resample_poly's filter half-width, in input samples
    in_first = max(0, (out_start * down // up - margin) // down * down)
    in_stop = min(length, -(-out_stop * down // up) + margin)
    block = read(in_first, max(in_stop - in_first, 0))
    offset = in_first * up // down
    if block.shape[-1] == 0:
        return np.zeros((*block.shape[:-1], out_stop - out_start), dtype=np.float32)
    converted = resample_poly(block, up, down, axis=-1)
    # Keep only the valid part of the global output (resample_poly rounds its length up).
    valid = -(-length * up // down) - offset
    converted = converted[..., : max(valid, 0)]
    span = converted[..., out_start - offset : out_stop - offset]
    missing = out_stop - out_start - span.shape[-1]
    if missing:
        span = np.pad(span, [(0, 0)] * (span.ndim - 1) + [(0, missing)])
    return span.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------- writing


def check_output_format(fmt: str, bit_depth: str) -> None:
    """Raise ValueError unless :func:`write_audio` writes ``fmt`` at ``bit_depth``."""
    if fmt not in WRITE_FORMATS:
        raise ValueError(f"format: expected one of {', '.join(WRITE_FORMATS)}, got {fmt!r}")
    if bit_depth not in BIT_DEPTHS:
        choices = ", ".join(repr(depth) for depth in BIT_DEPTHS)  # strings: 24 is not "24"
        raise ValueError(f"bit depth: expected one of {choices}, got {bit_depth!r}")
    if bit_depth == "32f" and fmt != "wav":
        raise ValueError(
            f"bit depth: 32-bit float is written as wav only, not {fmt} (use 16 or 24)"
        )


PARTIAL_MARK = ".partial"
"""Part of every temporary name :class:`AtomicAudioWriter` writes:
``.{name}.{pid}-{8 hex}.partial{suffix}`` (pid: the writing process)."""
STALE_PARTIAL_SECONDS = 24 * 3600.0
"""A partial file older than this is stale even when a process with its writer's pid runs (a pid
reused after a restart), and so is one of the pid-less names written before pids were added."""
_STALE_UNKNOWN_PID_SECONDS = 3600.0


class OutputEscapeError(AudioWriteError):
    """An output's folder, checked right before the file is opened and again right before it is
    renamed to its final name, no longer lies inside the folder it must stay in (a symlink put in
    its place)."""


def _partial_pattern(path: Path) -> re.Pattern[str]:
    """Names of the temporary files an :class:`AtomicAudioWriter` of ``path`` writes (with a pid)
    or wrote before pids were part of the name (without one)."""
    return re.compile(
        rf"\.{re.escape(path.name)}\.(?:(?P<pid>\d{{1,10}})-)?[0-9a-f]{{8}}"
        rf"{re.escape(PARTIAL_MARK)}{re.escape(path.suffix)}"
    )


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process: alive (or unknowable), keep its file
    return True


def remove_stale_partials(path: str | os.PathLike[str], now: float | None = None) -> list[Path]:
    """Remove leftover temporary files of earlier writers of ``path`` (a killed process leaves
    them): only names this product writes for exactly this output, and of those only the ones
    whose writer is gone (its pid runs no process) or that are older than
    :data:`STALE_PARTIAL_SECONDS` (an hour for pid-less names). Files of a live writer, of other
    outputs, and anything that is not a regular file are left alone. Returns what was removed."""
    path = Path(path)
    pattern = _partial_pattern(path)
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed  # no folder yet (or unreadable): nothing to clean
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        age = now - info.st_mtime
        pid = match["pid"]
        if pid is None:
            stale = age > _STALE_UNKNOWN_PID_SECONDS
        else:
            owner = int(pid)
            stale = age > STALE_PARTIAL_SECONDS or (
                owner != os.getpid() and not _process_alive(owner)
            )
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


class AtomicAudioWriter:
    """Write an audio file block by block; it appears under its final name only when complete.

    The samples go to a hidden temporary file in the destination folder,
    ``.{name}.{pid}-{8 hex}.partial{suffix}``; :meth:`commit` renames it over ``path`` (atomic on
    one file system), :meth:`abort` (or leaving the ``with`` block with an exception) deletes it.
    Opening a writer first removes the stale temporary files of earlier writers of the same
    ``path`` (:func:`remove_stale_partials`: a process killed with SIGKILL cannot clean up).
    To commit several files as a set, :meth:`finish` each, then :func:`commit_together`.

    Args:
        path: final file; its extension picks the format (``.wav``, ``.flac``, ``.aiff``).
        sample_rate: Hz.
        channels: number of channels.
        bit_depth: ``"16"``, ``"24"`` or ``"32f"`` (wav only).
        overwrite: replace an existing file at ``path``; otherwise it is an error (raised before
            anything is written).
        root: if set, the file's folder (symlinks followed) must lie inside this folder, taken
            as given (not resolved again): checked when the file is opened and again right before
            the rename, which goes through a handle of the checked folder.
        dither: for 16 and 24 bit, add TPDF dither (two uniform variables, +-1 LSB peak) before
            rounding to the integer grid, as DAWs do when bouncing float to fixed point: the
            quantisation error becomes a constant noise floor uncorrelated with the signal
            instead of distortion (a sine below 1 LSB survives). Digital silence (samples that
            are exactly 0) is left undithered, as DAWs' auto-blanking does. The dither is seeded
            from :data:`DITHER_SEED` and the file name, so a file's bytes are reproducible.
            False: plain rounding to the nearest step. 32-bit float is never dithered.
        provenance: where the stem comes from, written into the file when it is finished, while
            it still has its temporary name (:func:`~avpc_plugin.audio.provenance.embed_provenance`:
            WAV ``bext`` + ``iXML`` chunks before ``data``, FLAC Vorbis comments, AIFF ID3); the
            samples are unchanged. None: a plain file.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: unknown format or bit depth.
        OutputEscapeError: the folder leads outside ``root``.
        AudioFileError: the folder or file cannot be written (disk full, permissions).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int,
        channels: int,
        bit_depth: BitDepth = "24",
        overwrite: bool = False,
        root: str | os.PathLike[str] | None = None,
        dither: bool = True,
        provenance: StemProvenance | None = None,
    ) -> None:
        from pedalboard.io import AudioFile  # deferred: pedalboard (JUCE) only to write a file

        self.path = Path(path)
        fmt = self.path.suffix.lower().lstrip(".")
        check_output_format("aiff" if fmt == "aif" else fmt, bit_depth)
        if self.path.exists() and not overwrite:
            raise OutputExistsError(self.path)
        self._overwrite = overwrite
        self._root = None if root is None else Path(root)
        self._made_folders = _missing_folders(self.path.parent)
        self._temp = self.path.with_name(
            f".{self.path.name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_MARK}"
            f"{self.path.suffix}"
        )
        self._finished = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._check_folder()
            remove_stale_partials(self.path)
            self._file = AudioFile(
                str(self._temp),
                "w",
                sample_rate,
                channels,
                bit_depth=_PEDALBOARD_BIT_DEPTH[bit_depth],
            )
        except BaseException as err:  # an interrupt (SIGTERM, Ctrl-C) mid-way too: no leftovers
            with contextlib.suppress(OSError):  # the folder may not exist (or be a file)
                self._temp.unlink(missing_ok=True)
            self._remove_made_folders()
            if isinstance(err, Exception) and not isinstance(err, AudioWriteError):
                raise _write_error(self.path, err) from err
            raise
        self.channels = channels
        self._bit_depth = bit_depth
        self._steps = None if bit_depth == "32f" else float(1 << (int(bit_depth) - 1))
        self._dither = (
            np.random.default_rng([DITHER_SEED, zlib.crc32(self.path.name.encode())])
            if dither and self._steps is not None
            else None
        )
        self.provenance = provenance
        self.peak = 0.0
        """Largest absolute sample written so far (tracked for the integer formats only)."""

    @property
    def temp_path(self) -> Path:
        """The hidden temporary file the samples go to until the commit."""
        return self._temp

    def _check_folder(self) -> None:
        """Raise :class:`OutputEscapeError` when the folder resolves outside ``root``."""
        if self._root is None:
            return
        resolved = self.path.parent.resolve()
        if not resolved.is_relative_to(self._root):
            raise OutputEscapeError(
                f"{self.path}: its folder now leads to {resolved}, outside {self._root} "
                "(a symlink?); not written there"
            )

    def _open_folder(self) -> int:
        """A handle of the checked folder (renames through it cannot be redirected)."""
        self._check_folder()
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
        fd = os.open(self.path.parent.resolve(), flags)
        if self._root is not None:
            try:
                self._check_folder()  # the folder did not change between check and open
                if not os.path.samestat(os.fstat(fd), os.stat(self.path.parent.resolve())):
                    raise OutputEscapeError(f"{self.path}: its folder changed while opened")
            except BaseException:
                os.close(fd)
                raise
        return fd

    def write(self, block: np.ndarray) -> None:
        """Append float samples ``(channels, n)`` (clipped to [-1, 1] by integer formats)."""
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(
                f"block: expected ({self.channels}, samples), got shape {tuple(block.shape)}"
            )
        if self._bit_depth != "32f" and block.size:
            self.peak = max(self.peak, float(np.abs(block).max()))
        try:
            self._file.write(self._quantised(block))
        except Exception as err:
            self.abort()
            raise _write_error(self.path, err) from err

    def finish(self) -> None:
        """Close the temporary file and flush it to disk (fsync); it keeps its temporary name."""
        if self._finished:
            return
        try:
            self._file.close()
            if self.provenance is not None:
                embed_provenance(self._temp, self.provenance)
            fd = os.open(self._temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except Exception as err:
            self.abort()
            raise _write_error(self.path, err) from err
        self._finished = True

    def _quantised(self, block: np.ndarray) -> np.ndarray:
        """``block`` as float32 for the file. For 16 and 24 bit: dithered (or plainly rounded) to
        integer step ``k`` and handed over as the middle of that step, ``(k + 0.5) / 2**(bits-1)``
        (exact in float32), which the writer's own float-to-int conversion (it truncates towards
        -inf) turns into exactly ``k``."""
        if self._steps is None:
            return np.ascontiguousarray(block, dtype=np.float32)
        scaled = np.asarray(block, dtype=np.float64) * self._steps
        if self._dither is not None:
            # drawn sample-major, so the noise does not depend on how the audio is split in blocks
            uniform = self._dither.random((block.shape[1], block.shape[0], 2))
            noise = (uniform[..., 0] - uniform[..., 1]).T
            scaled = scaled + np.where(scaled == 0, 0.0, noise)  # digital silence stays silent
        steps = np.clip(np.round(scaled), -self._steps, self._steps - 1)
        return np.ascontiguousarray((steps + 0.5) / self._steps, dtype=np.float32)

    def commit(self) -> Path:
        """Close the file and move it to its final name; returns that path."""
        return commit_together([self])[0]

    def _warn_clipped(self) -> None:
        if self.peak > 1.0:
            warnings.warn(
                f"{self.path}: peaks at {20 * math.log10(self.peak):+.1f} dBFS and was clipped "
                f"to full scale in {self._bit_depth}-bit; write 32-bit float (--bit-depth 32f) "
                "to keep it",
                AudioWarning,
                stacklevel=4,
            )

    def abort(self) -> None:
        """Discard what was written; the final name is left untouched."""
        # closing a file on a full disk may fail again: nothing to keep anyway
        with contextlib.suppress(Exception):
            self._file.close()
        with contextlib.suppress(OSError):
            self._temp.unlink(missing_ok=True)
        self._remove_made_folders()

    def _remove_made_folders(self) -> None:
        """Remove the folders this writer created, deepest first, while they are empty (a
        failed or cancelled job leaves no empty folders behind)."""
        for folder in self._made_folders:
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (another stem's file) or already gone

    def __enter__(self) -> AtomicAudioWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def commit_together(writers: Sequence[AtomicAudioWriter]) -> list[Path]:
    """Commit several writers' files as one set: all appear under their final names, or none.

    Every file is finished and fsynced under its temporary name first; then, with no other work
    in between, each existing final file being replaced is moved aside to a hidden name, each
    temporary file renamed to its final name (through a handle of its checked folder, so a folder
    swapped for a symlink is refused, :class:`OutputEscapeError`), and the folders fsynced. If a
    rename fails, the renames done are undone (the files moved aside come back) and every
    temporary file is removed. Returns the final paths, in order.

    Raises:
        OutputExistsError: a final name appeared meanwhile and the writer may not overwrite it.
        OutputEscapeError, AudioWriteError: as :class:`AtomicAudioWriter`.
    """
    done: list[_Rename] = []
    folders: list[int] = []
    try:
        for writer in writers:
            writer.finish()
        for writer in writers:
            if writer.path.exists() and not writer._overwrite:
                raise OutputExistsError(writer.path)
        for writer in writers:
            fd = writer._open_folder()
            folders.append(fd)
            step = _Rename(writer, fd)
            done.append(step)
            if os.path.lexists(writer.path):
                aside = f".{writer.path.name}.{os.getpid()}-{secrets.token_hex(4)}.replaced"
                os.replace(writer.path.name, aside, src_dir_fd=fd, dst_dir_fd=fd)
                step.aside = aside
            os.replace(writer._temp.name, writer.path.name, src_dir_fd=fd, dst_dir_fd=fd)
            step.renamed = True
        for fd in folders:
            with contextlib.suppress(OSError):  # not every file system syncs folders
                os.fsync(fd)
    except BaseException as err:
        _undo_renames(done)
        for writer in writers:
            writer.abort()
        for fd in folders:
            os.close(fd)
        if isinstance(err, OSError) and not isinstance(err, (FileExistsError, AudioWriteError)):
            where = done[-1].writer.path if done else writers[0].path
            raise _write_error(where, err) from err
        raise
    for step in done:
        if step.aside is not None:
            with contextlib.suppress(OSError):
                os.unlink(step.aside, dir_fd=step.folder)
    for fd in folders:
        os.close(fd)
    for writer in writers:
        writer._warn_clipped()
    return [writer.path for writer in writers]


@dataclass
class _Rename:
    """One file's step in :func:`commit_together`: its folder handle, the hidden name an
    existing final file was moved aside to, and whether the new file got its final name."""

    writer: AtomicAudioWriter
    folder: int
    aside: str | None = None
    renamed: bool = False


def _undo_renames(done: Sequence[_Rename]) -> None:
    """Take back the renames of :func:`commit_together`, last first (best effort)."""
    for step in reversed(done):
        names = step.writer.path.name, step.writer._temp.name
        with contextlib.suppress(OSError):
            if step.renamed:
                os.replace(*names, src_dir_fd=step.folder, dst_dir_fd=step.folder)
        if step.aside is not None:
            with contextlib.suppress(OSError):
                os.replace(step.aside, names[0], src_dir_fd=step.folder, dst_dir_fd=step.folder)


def write_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    bit_depth: BitDepth = "24",
    overwrite: bool = False,
    dither: bool = True,
    provenance: StemProvenance | None = None,
) -> Path:
    """Write float audio ``(channels, samples)`` (or ``(samples,)``) atomically; returns the path.

    16 and 24 bit are TPDF-dithered unless ``dither`` is False; ``provenance`` is written into
    the file (see :class:`AtomicAudioWriter`). Errors as :class:`AtomicAudioWriter`.
    """
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[None]
    with AtomicAudioWriter(
        path, sample_rate, data.shape[0], bit_depth, overwrite, dither=dither, provenance=provenance
    ) as writer:
        writer.write(data)
    return writer.path


_LOW_SPACE = 1 << 20
"""Bytes free below which a failed write is put down to a full disk (the writing library's own
error often says only that it could not write)."""


def _write_error(path: Path, err: BaseException) -> AudioWriteError:
    """An :class:`AudioWriteError` naming ``path``; a full disk is said in plain words."""
    chain: BaseException | None = err
    full = False
    while chain is not None and not full:
        full = isinstance(chain, OSError) and chain.errno in (
            errno.ENOSPC,
            getattr(errno, "EDQUOT", errno.ENOSPC),
        )
        chain = chain.__cause__ or chain.__context__
    if not full:
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        with contextlib.suppress(OSError):
            full = shutil.disk_usage(folder).free < _LOW_SPACE
    if full:
        return AudioWriteError(f"{path}: cannot write: no space left on device ({err})")
    return AudioWriteError(f"{path}: cannot write ({err})")


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing
