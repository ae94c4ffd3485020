"""Solo clips from any folder of performance videos (mp4 / mov / mkv with an audio track).

The instrument of a video is the name of the folder it sits in (``DIR/violin/take1.mp4``), or
comes from an index file naming each video:

- CSV with a header row holding ``path`` and ``instrument`` columns (others are ignored);
- JSON: a list of ``{"path": ..., "instrument": ...}`` objects, or an object mapping path to
  instrument; JSON lines (``.jsonl``): one such object per line.

Paths in an index are relative to the video folder. Audio and frames both come from the video
file (:mod:`avpc_plugin.audio.io`, :mod:`avpc_plugin.video.decode`); a clip lasts as long as the
shorter of its audio track and its video stream. Feed the clips to
:func:`~avpc_plugin.data.cache.build_cache` so training does not decode them again.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from avpc_plugin.audio.io import audio_info
from avpc_plugin.data.clips import SkipLog, SoloClip
from avpc_plugin.video.decode import probe_video

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")
"""File name endings taken as videos (any case)."""


def clips_from_video_folder(folder: str | Path, index: str | Path | None = None) -> list[SoloClip]:
    """The solo clips of a folder of videos, unreadable ones skipped with a warning.

    Args:
        folder: the video folder (searched recursively without ``index``).
        index: optional CSV / JSON / JSON-lines file naming each video's instrument.

    Returns:
        One :class:`~avpc_plugin.data.clips.SoloClip` per readable video (audio and video
        are the same file, ``recording`` is its path relative to ``folder``), sorted by path.

    Raises:
        FileNotFoundError: ``folder`` or ``index`` does not exist.
        ValueError: an index that cannot be parsed (names the file and what was expected).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"folder: {root} is not a folder")
    log = SkipLog(str(root))
    if index is None:
        listing: dict[Path, str] = {}
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
            if path.parent == root:
                log.skip(path, "no instrument: put it in a folder named after the instrument")
            else:
                listing[path] = path.parent.name
    else:
        listing = {root / rel: name for rel, name in sorted(read_video_index(index).items())}
    clips = []
    for path, instrument in listing.items():
        try:
            audio_seconds = audio_info(path).duration
            video = probe_video(path)
        except Exception as error:  # any decoder failure means the file is unusable
            log.skip(path, str(error) or type(error).__name__)
            continue
        duration = min(audio_seconds, video.duration)
        if duration <= 0:
            log.skip(path, "empty audio track or video stream")
            continue
        recording = path.relative_to(root).as_posix()
        clips.append(SoloClip(instrument, path, path, duration, video.fps, recording))
    log.finish(len(clips))
    return clips


def read_video_index(index: str | Path) -> dict[str, str]:
    """``{relative path: instrument}`` from a CSV, JSON or JSON-lines index (module docstring)."""
    path = Path(index)
    if not path.is_file():
        raise FileNotFoundError(f"index: no such file {path}")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if not rows or not {"path", "instrument"} <= set(rows[0]):
            raise ValueError(f"index: {path} needs a header row with 'path' and 'instrument'")
        entries: list[object] = list(rows)
    elif suffix == ".jsonl":
        entries = [_json(line, path) for line in text.splitlines() if line.strip()]
    elif suffix == ".json":
        data = _json(text, path)
        if isinstance(data, dict):
            entries = [{"path": k, "instrument": v} for k, v in data.items()]
        elif isinstance(data, list):
            entries = data
        else:
            raise ValueError(f"index: {path} must hold a list or an object")
    else:
        raise ValueError(f"index: {path} must end in .csv, .json or .jsonl")
    listing = {}
    for number, entry in enumerate(entries, start=1):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("path"), str)
            or not isinstance(entry.get("instrument"), str)
            or not entry["instrument"].strip()
        ):
            raise ValueError(
                f"index: {path} entry {number} must have string 'path' and 'instrument', "
                f"got {entry!r}"
            )
        listing[entry["path"].strip()] = entry["instrument"].strip()
    return listing


def _json(text: str, path: Path) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"index: {path} is not valid JSON ({error})") from None
