"""REAPER projects (``.RPP``) with one track per stem, so stems open in REAPER without a script.

An RPP file is a tree of ``<TAG args ... >`` blocks in plain text. Each stem becomes::

    <TRACK {guid}
      NAME "violin"
      NCHAN 2
      <ITEM
        POSITION 0.5          # seconds on the timeline: the stem's start in the source
        LENGTH 2.0            # seconds
        NAME "violin"
        SOFFS 0
        <SOURCE WAVE          # WAVE (wav, aiff), FLAC, MP3 or VORBIS, from the file's extension
          FILE "/abs/path/violin.wav"
        >
      >
    >

Positions are the stem's sample position divided by its rate, written with Python's shortest
round-trip float repr (up to 17 significant digits), so they land on the exact sample. A track has
at least two channels (REAPER's minimum; a mono item plays on both sides), more for multichannel
stems. A new project sets its sample rate (``SAMPLERATE <rate> 1 0``: rate, use it, no
auto-sync).

Files are written atomically (temporary file + rename). A new project never replaces an existing
file unless asked; adding tracks to an existing project keeps its previous text as
``<name>.RPP-bak`` (REAPER's own backup name), and refuses stems the project plays already unless
asked to replace their tracks.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from avpc_plugin.atomic import write_text_atomically
from avpc_plugin.audio.io import VIDEO_CONTAINER_EXTENSIONS
from avpc_plugin.daw.stems import StemPlacement

REAPER_VERSION_TAG = "6.0/avpc"
"""Version string written in a new project's header (REAPER reads any)."""
SOURCE_TYPES = {
    ".wav": "WAVE",
    ".aif": "WAVE",
    ".aiff": "WAVE",
    ".flac": "FLAC",
    ".mp3": "MP3",
    ".ogg": "VORBIS",
    **dict.fromkeys(VIDEO_CONTAINER_EXTENSIONS, "VIDEO"),  # the concert video as the source track
}
"""REAPER source type per file extension."""


class RppProjectError(Exception):
    """A project file that cannot be read or written; the message names the file and the reason."""


def rpp_string(text: str) -> str:
    """``text`` as one RPP token: quoted with ``"``, else ``'``, else ````` (REAPER's rules).

    Raises:
        ValueError: ``text`` holds all three quote characters or a line break.
    """
    if "\n" in text or "\r" in text:
        raise ValueError(f"{text!r}: RPP strings cannot hold line breaks")
    for quote in ('"', "'", "`"):
        if quote not in text:
            return f"{quote}{text}{quote}"
    raise ValueError(f"{text!r}: holds all three RPP quote characters")


def rpp_seconds(samples: int, sample_rate: int) -> str:
    """A sample position as RPP seconds, exact to the sample (shortest round-trip repr)."""
    return repr(samples / sample_rate)


def _guid() -> str:
    return "{" + str(uuid.uuid4()).upper() + "}"


def track_block(placement: StemPlacement, indent: str = "  ") -> list[str]:
    """The ``<TRACK ...>`` lines for one stem (each line without its newline).

    Raises:
        ValueError: an audio format REAPER has no source type for here.
    """
    source_type = SOURCE_TYPES.get(placement.path.suffix.lower())
    if source_type is None:
        raise ValueError(
            f"{placement.path}: no REAPER source type for {placement.path.suffix!r} "
            f"(known: {', '.join(SOURCE_TYPES)})"
        )
    channels = max(2, placement.channels + placement.channels % 2)
    lines = [
        f"<TRACK {_guid()}",
        f"  NAME {rpp_string(placement.name)}",
        f"  NCHAN {channels}",
        "  <ITEM",
        f"    POSITION {rpp_seconds(placement.position, placement.sample_rate)}",
        f"    LENGTH {rpp_seconds(placement.frames, placement.sample_rate)}",
        "    LOOP 0",
        f"    NAME {rpp_string(placement.name)}",
        "    SOFFS 0",
        f"    IGUID {_guid()}",
        f"    GUID {_guid()}",
        f"    <SOURCE {source_type}",
        f"      FILE {rpp_string(str(placement.path))}",
        "    >",
        "  >",
        ">",
    ]
    return [indent + line for line in lines]


def write_rpp_project(
    path: str | os.PathLike[str],
    placements: Sequence[StemPlacement],
    sample_rate: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a new REAPER project with one track per stem; returns its path.

    Args:
        path: the ``.RPP`` file to write.
        placements: the stems, in track order.
        sample_rate: project rate in Hz; default: the first stem's rate.
        overwrite: replace an existing file (otherwise it is an error); the old one is kept as
            ``<name>-bak``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: no stems, a bad rate, or an unknown audio format.
        RppProjectError: the file (or the old one's backup) cannot be written.
    """
    target = Path(path)
    if not placements:
        raise ValueError("placements: expected at least one stem")
    rate = placements[0].sample_rate if sample_rate is None else sample_rate
    if rate <= 0:
        raise ValueError(f"sample_rate: expected a positive rate in Hz, got {rate}")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: already exists (pass overwrite / --overwrite)")
    if target.exists():
        _back_up(target)  # overwriting is asked for; the old project is still kept once
    lines = [
        f"<REAPER_PROJECT 0.1 {rpp_string(REAPER_VERSION_TAG)} {int(time.time())}",
        f"  SAMPLERATE {rate} 1 0",
    ]
    for placement in placements:
        lines += track_block(placement)
    lines.append(">")
    _write_atomically(target, "\n".join(lines) + "\n")
    return target


def add_tracks_to_rpp(
    path: str | os.PathLike[str], placements: Sequence[StemPlacement], replace: bool = False
) -> Path:
    """Append one track per stem to an existing REAPER project, after its last track.

    A stem whose file a track of the project plays already (an earlier export of the same stems)
    is refused, or with ``replace`` takes that track's place: the track this module wrote for it
    before is swapped for a new one where it stands. The previous text is kept as
    ``<name>.RPP-bak``.

    Raises:
        RppProjectError: the file is missing or is not a REAPER project, or it already plays one
            of the stems' files and ``replace`` is False.
        ValueError: no stems, or an unknown audio format.
    """
    target = Path(path)
    if not placements:
        raise ValueError("placements: expected at least one stem")
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RppProjectError(f"{target}: cannot read the project ({err})") from None
    lines = text.splitlines()
    if not lines or not lines[0].lstrip().startswith("<REAPER_PROJECT"):
        raise RppProjectError(f"{target}: not a REAPER project (no <REAPER_PROJECT header)")
    closing = max((i for i, line in enumerate(lines) if line.strip() == ">"), default=0)
    if closing == 0:
        raise RppProjectError(f"{target}: the <REAPER_PROJECT block is never closed")
    wanted = {f"FILE {rpp_string(str(p.path))}": p for p in placements}
    owners: dict[int, tuple[int, StemPlacement]] = {}  # first line of a track -> (end, stem)
    for first, last in _track_spans(lines):
        for line in lines[first:last]:
            if line.strip() in wanted:
                owners[first] = (last, wanted[line.strip()])
                break
    if owners and not replace:  # a second export of the same stems would stack duplicates
        names = ", ".join(placement.name for _, placement in owners.values())
        raise RppProjectError(
            f"{target}: already has tracks playing {names} (an earlier export of these stems?); "
            "pass --replace to replace those tracks, or delete them in REAPER first"
        )
    replaced = {placement.path for _, placement in owners.values()}
    out: list[str] = []
    index = 0
    while index < closing:
        if index in owners:
            end, placement = owners[index]
            out += track_block(placement)
            index = end
        else:
            out.append(lines[index])
            index += 1
    out += [line for p in placements if p.path not in replaced for line in track_block(p)]
    _back_up(target)
    _write_atomically(target, "\n".join(out + lines[closing:]) + "\n")
    return target


def _track_spans(lines: Sequence[str]) -> list[tuple[int, int]]:
    """``(first, end)`` line ranges of the project's ``<TRACK`` blocks (``end`` exclusive)."""
    spans: list[tuple[int, int]] = []
    depth, start = 0, None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("<"):
            depth += 1
            if depth == 2 and stripped.startswith("<TRACK"):
                start = index
        elif stripped == ">":
            depth -= 1
            if depth == 1 and start is not None:
                spans.append((start, index + 1))
                start = None
    return spans


def _back_up(target: Path) -> None:
    """Copy ``target`` to ``<name>-bak`` (REAPER's own backup name) before it changes."""
    try:
        shutil.copy2(target, target.with_name(target.name + "-bak"))
    except OSError as err:
        raise RppProjectError(
            f"{target}: cannot write its backup {target.name}-bak ({err.strerror or err}); the "
            "project is left as it was"
        ) from None


def _write_atomically(target: Path, text: str) -> None:
    try:
        write_text_atomically(target, text)
    except OSError as err:
        raise RppProjectError(f"{target}: cannot write the project ({err})") from err
