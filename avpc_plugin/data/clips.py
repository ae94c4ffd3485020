"""Solo clips and the clip lists of a synthetic corpus folder or a MUSIC-layout CSV index.

A :class:`SoloClip` names one solo performance: an instrument, its audio and its frames (an mp4,
or a folder of frames extracted at a known rate as in MUSIC). The loaders here (and
:func:`~avpc_plugin.data.folder.clips_from_video_folder` for a folder of videos) check every file
when they build the list: a missing or unreadable file is skipped with a warning naming it
(:class:`SkipLog`), and one warning at the end counts the skipped clips.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

from avpc_plugin.audio.io import audio_info
from avpc_plugin.data.corpus import read_index

MUSIC_CHUNK_SECONDS = 20.0
"""Length of the audio chunks (``{:06d}.wav``) of the MUSIC layout."""
MUSIC_FRAME_RATE = 8.0
"""Rate at which the MUSIC layout's frames (``{:06d}.jpg``) were extracted."""


@dataclass(frozen=True)
class SoloClip:
    """One solo recording.

    Attributes:
        instrument: class name.
        audio: an audio file, or (MUSIC layout) a folder of ``{:06d}.wav`` 20-second chunks.
        video: an mp4 (or any container PyAV reads), or (MUSIC layout) a folder of
            ``{:06d}.jpg`` frames at ``fps``, numbered from 0 at time 0.
        duration: seconds of audio.
        fps: frame rate of the frames folder (ignored for a video file).
        recording: identity of the recording; mixtures never pair a recording with itself.
    """

    instrument: str
    audio: Path
    video: Path
    duration: float
    fps: float = MUSIC_FRAME_RATE
    recording: str = ""


class SkipLog:
    """Collects skipped files: one warning per file as it happens, a count at the end."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.skipped: list[str] = []

    def skip(self, path: Path | str, reason: str) -> None:
        self.skipped.append(str(path))
        warnings.warn(f"{self.source}: skipping {path}: {reason}", stacklevel=3)

    def finish(self, kept: int) -> None:
        if self.skipped:
            warnings.warn(
                f"{self.source}: skipped {len(self.skipped)} of {kept + len(self.skipped)} clips "
                "(unreadable or missing files, named above)",
                stacklevel=3,
            )


def clips_from_corpus(folder: str | Path) -> list[SoloClip]:
    """The solo clips of a synthetic corpus folder (``index.jsonl``), bad files skipped."""
    folder = Path(folder)
    log = SkipLog(str(folder))
    clips = []
    for record in read_index(folder):
        audio, video = folder / record["audio"], folder / record["video"]
        try:
            info = audio_info(audio)
        except Exception as error:
            log.skip(audio, str(error))
            continue
        if not video.is_file():
            log.skip(video, "no such file")
            continue
        clips.append(
            SoloClip(
                record["instrument"], audio, video, info.frames / info.sample_rate,
                float(record.get("fps", MUSIC_FRAME_RATE)), record["id"],
            )
        )  # fmt: skip
    log.finish(len(clips))
    return clips


def clips_from_music_csv(index: str | Path, root: str | Path | None = None) -> list[SoloClip]:
    """The solo clips listed in a MUSIC-layout CSV index, as the reference code reads them.

    Each row is ``audio_dir,frames_dir,count_chunks,count_frames``: ``audio_dir`` holds
    ``000000.wav, 000001.wav, ...`` (20-second chunks), ``frames_dir`` holds ``000000.jpg, ...``
    extracted at 8 fps; the instrument is the name of ``audio_dir``'s parent folder. Relative
    paths are taken from ``root`` (default: the CSV's folder). Rows whose folders, chunks or
    frames are missing, or whose first chunk is unreadable, are skipped with a warning.
    """
    index = Path(index)
    base = Path(root) if root is not None else index.parent
    log = SkipLog(str(index))
    clips = []
    with open(index, newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if len(row) < 4:
                if any(cell.strip() for cell in row):
                    log.skip(f"{index}:{number}", "expected audio_dir,frames_dir,chunks,frames")
                continue
            audio_dir, frames_dir = base / row[0].strip(), base / row[1].strip()
            try:
                chunks, frames = int(row[2]), int(row[3])
            except ValueError:
                log.skip(f"{index}:{number}", f"chunk and frame counts must be integers: {row}")
                continue
            reason = _music_row_problem(audio_dir, frames_dir, chunks, frames)
            if reason:
                log.skip(audio_dir, reason)
                continue
            duration = min(chunks * MUSIC_CHUNK_SECONDS, frames / MUSIC_FRAME_RATE)
            clips.append(
                SoloClip(audio_dir.parent.name, audio_dir, frames_dir, duration,
                         MUSIC_FRAME_RATE, audio_dir.name)
            )  # fmt: skip
    log.finish(len(clips))
    return clips


def _music_row_problem(audio_dir: Path, frames_dir: Path, chunks: int, frames: int) -> str:
    if chunks < 1 or frames < 1:
        return f"needs at least one chunk and one frame, got {chunks} and {frames}"
    for k in range(chunks):
        if not (audio_dir / f"{k:06d}.wav").is_file():
            return f"missing audio chunk {audio_dir / f'{k:06d}.wav'}"
    try:
        audio_info(audio_dir / "000000.wav")
    except Exception as error:
        return f"unreadable audio chunk ({error})"
    for k in (0, frames - 1):
        if not (frames_dir / f"{k:06d}.jpg").is_file():
            return f"missing frame {frames_dir / f'{k:06d}.jpg'}"
    return ""
