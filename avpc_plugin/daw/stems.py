"""Stems to place in a DAW: which file, where on the timeline, and what it holds.

A stem separated from ``[start, end)`` of a source recording belongs at ``start`` on the source's
timeline, so that it lines up with the source to the sample. :class:`StemPlacement` carries that
position in samples (at the stem's own rate) and the file facts the writers need (rate, channels,
length), read from the file itself with :func:`avpc_plugin.audio.io.audio_info`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from avpc_plugin.audio.io import AUDIO_FILE_EXTENSIONS, audio_info
from avpc_plugin.audio.provenance import read_time_reference


@dataclass(frozen=True)
class StemPlacement:
    """One audio file at one position on the source's timeline.

    Attributes:
        name: track name (the stem's name, e.g. ``"violin"``).
        path: the audio file (absolute).
        position: where the file's first sample goes, in samples at ``sample_rate`` from the start
            of the source (>= 0).
        sample_rate: the file's rate in Hz.
        channels: the file's channel count.
        frames: the file's length in samples per channel.
    """

    name: str
    path: Path
    position: int
    sample_rate: int
    channels: int
    frames: int

    @property
    def position_seconds(self) -> float:
        """Position in seconds from the start of the source."""
        return self.position / self.sample_rate

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate

    @property
    def end(self) -> int:
        """First sample after the stem, at ``sample_rate``."""
        return self.position + self.frames


def seconds_to_samples(seconds: float, sample_rate: int) -> int:
    """Nearest sample to ``seconds`` at ``sample_rate`` Hz.

    Raises:
        ValueError: ``seconds`` is negative or not finite.
    """
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"position: expected a time >= 0 seconds, got {seconds}")
    return round(seconds * sample_rate)


def place_stem(
    path: str | os.PathLike[str], position_seconds: float = 0.0, name: str | None = None
) -> StemPlacement:
    """Describe one audio file placed at ``position_seconds`` (rounded to its nearest sample).

    Args:
        path: an audio file (wav, flac, aiff, mp3, ogg).
        position_seconds: where it starts in the source, in seconds (>= 0).
        name: track name; default: the file name without extension.

    Raises:
        AudioFileError: the file is missing or unreadable.
        ValueError: a negative position, or an empty file.
    """
    file = Path(path).absolute()
    info = audio_info(file)
    if info.frames <= 0:
        raise ValueError(f"{file}: holds no samples")
    return StemPlacement(
        name=name if name is not None else file.stem,
        path=file,
        position=seconds_to_samples(position_seconds, info.sample_rate),
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=info.frames,
    )


RESIDUAL_STEM = "residual"
"""The name ``avpc separate --residual`` gives the mix minus the stems: always the last track."""


def stem_files(folder: str | os.PathLike[str], order: Sequence[str] = ()) -> list[Path]:
    """Audio files directly in ``folder`` (hidden and partial files skipped), in track order.

    A folder does not record the order the stems were separated in (``avpc separate --stem a
    --stem b``), so the order is given again: the files named in ``order`` (by name without
    extension) come first, in that order; the others follow by name; ``residual`` is always last.

    Raises:
        NotADirectoryError: ``folder`` is not a folder.
        FileNotFoundError: it holds no audio file, or no file for a name in ``order``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"--stems {root}: not a folder")
    files = sorted(
        p
        for p in root.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_FILE_EXTENSIONS
    )
    if not files:
        raise FileNotFoundError(
            f"--stems {root}: no audio file ({', '.join(AUDIO_FILE_EXTENSIONS)}) in the folder"
        )
    stems = [p.stem for p in files]
    missing = [name for name in order if name not in stems]
    if missing:
        raise FileNotFoundError(
            f"--stem {', '.join(missing)}: no such file in {root} (it holds {', '.join(stems)})"
        )
    rank = {name: index for index, name in enumerate(dict.fromkeys(order))}

    def key(path: Path) -> tuple[int, int, str]:
        if path.stem == RESIDUAL_STEM:
            return (2, 0, path.name)
        return (0, rank[path.stem], path.name) if path.stem in rank else (1, 0, path.name)

    return sorted(files, key=key)


def place_stems(
    paths: Sequence[str | os.PathLike[str]], position_seconds: float = 0.0
) -> list[StemPlacement]:
    """All ``paths`` placed at the same position, each named after its file.

    Raises:
        ValueError: two files would give the same track name, or as :func:`place_stem`.
    """
    placements = [place_stem(path, position_seconds) for path in paths]
    names = [p.name for p in placements]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"stems: several files are named {', '.join(duplicates)}")
    return placements


def recorded_position(paths: Sequence[str | os.PathLike[str]]) -> tuple[float | None, str]:
    """Where the stems start on their source's timeline, as written in the files themselves
    (``avpc separate`` writes it: the WAV bext TimeReference, the FLAC / AIFF ``TIME_REFERENCE``
    tag, in samples at the file's rate).

    Returns:
        ``(seconds, note)``: the position every stem that records one agrees on, or None when
        none records one or they disagree; the note says which, for the user.
    """
    found: dict[Path, Fraction] = {}
    for path in paths:
        samples = read_time_reference(path)
        if samples is not None:
            found[Path(path)] = Fraction(samples, audio_info(path).sample_rate)
    if not found:
        return None, "no stem records its position (bext / TIME_REFERENCE)"
    values = sorted(set(found.values()))
    if len(values) > 1:
        listed = ", ".join(f"{p.name} {float(v):g} s" for p, v in found.items())
        return None, f"the stems record different positions ({listed})"
    lacking = [Path(p).name for p in paths if Path(p) not in found]
    note = f"position {float(values[0]):g} s, recorded in the stems"
    if lacking:
        note += f" ({', '.join(lacking)} record(s) none and follow)"
    return float(values[0]), note
