"""Pre-decoded cache of solo clips, so the mix-and-separate loader never decodes a file.

A cache folder holds every clip's audio and frames in two flat memory-mapped files::

    CACHE/meta.json    format version, fps, image_size, frame_side and per clip: its
                       SoloClip fields (absolute paths), the size and modification time of
                       its files, and where its samples and frames start and how many; and
                       the clips skipped as unreadable
    CACHE/audio.f32    float32 mono samples at MODEL_RATE, the clips one after another
    CACHE/frames.u8    uint8 staged frames (F, 3, side, side): frame k of a clip shows time
                       k / fps; side = int(1.1 * image_size) (246 px for 224), see
                       :mod:`avpc_plugin.data.frames`
    CACHE/build.lock   taken while a run checks or builds the cache (runs may share one)

Audio is the clip's whole signal made mono and resampled once (:class:`~avpc_plugin.data.
datasets.ClipAudio`), frames are decoded on the ``fps`` grid and staged once, exactly as the
uncached :class:`~avpc_plugin.data.datasets.MixSeparateDataset` does per item, so
:class:`CachedMixSeparateDataset` gives the same items (bit for bit in validation mode) while an
item costs a few memory copies, a crop and a normalisation. A 6-second clip takes about 8.7 MB
(48 frames of 246 x 246 x 3 bytes and 66,150 samples).

``meta.json`` is written last, so an interrupted build leaves no cache that looks complete.
Clips whose files cannot be decoded are skipped with a warning naming them, and counted.

A clip is the same clip when its files are: the same absolute paths (however a config spelled
them) with the same sizes and modification times. :func:`ensure_cache` reuses a cache that holds
every requested clip (or skipped it, unchanged) and opens it restricted to those clips, so a run
trains on exactly the clips it names even when the cache holds more.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from tqdm import tqdm

from avpc_plugin.atomic import write_text_atomically
from avpc_plugin.audio.io import AudioFileError
from avpc_plugin.audio.stft import CLIP_SAMPLES, MODEL_RATE
from avpc_plugin.data.clips import SkipLog, SoloClip
from avpc_plugin.data.datasets import (
    ClipAudio,
    MixSeparateDataset,
    decode_clip_frames,
    frame_count,
)
from avpc_plugin.data.frames import stage_frames, staged_side
from avpc_plugin.video.decode import IMAGE_SIZE, VideoError

CACHE_VERSION = 2  # 2: absolute clip paths, file stamps, skipped clips
META_NAME = "meta.json"
AUDIO_NAME = "audio.f32"
FRAMES_NAME = "frames.u8"
LOCK_NAME = "build.lock"  # held by ensure_cache while it checks and builds
_FRAME_BLOCK = 64  # frames decoded and staged at a time (bounds memory for long videos)


@dataclass(frozen=True)
class CacheEntry:
    """Where one clip lives in the cache: ``audio_length`` samples from ``audio_offset`` and
    ``frame_count`` frames from ``frame_offset`` (indices into the flat arrays)."""

    clip: SoloClip
    audio_offset: int
    audio_length: int
    frame_offset: int
    frame_count: int
    stamp: tuple[int, ...] = ()
    """Sizes and modification times (ns) of the clip's files when it was cached
    (:func:`clip_stamp`)."""


def canonical_clip(clip: SoloClip) -> SoloClip:
    """``clip`` with absolute, normalised paths: the same files compare equal however a config
    or an index spelled them."""
    return replace(clip, audio=clip.audio.resolve(), video=clip.video.resolve())


def clip_stamp(clip: SoloClip) -> tuple[int, ...]:
    """``(audio size, audio mtime_ns, video size, video mtime_ns)``; -1 for a missing file. A
    changed stamp means the files were rewritten (e.g. a corpus made again in the same folder)."""
    stamp: list[int] = []
    for path in (clip.audio, clip.video):
        try:
            info = path.stat()
            stamp += [info.st_size, info.st_mtime_ns]
        except OSError:
            stamp += [-1, -1]
    return tuple(stamp)


class ClipCache:
    """A cache folder opened for reading; the arrays are memory-mapped on first use in each
    process (a pickled cache, e.g. in a DataLoader worker, maps the files anew).

    Attributes:
        folder: the cache folder.
        fps: frame grid rate (frames per second).
        image_size: side of the model frames the staged frames are made for.
        frame_side: side of the stored (staged) frames.
        entries: one :class:`CacheEntry` per clip.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        meta = _read_meta(self.folder)
        if meta is None:
            raise FileNotFoundError(f"cache: no {META_NAME} in {self.folder} (build it first)")
        if meta.get("version") != CACHE_VERSION:
            raise ValueError(
                f"cache: {self.folder / META_NAME} has format version {meta.get('version')}, "
                f"expected {CACHE_VERSION} (rebuild it with avpc data cache)"
            )
        self.fps = float(meta["fps"])
        self.image_size = int(meta["image_size"])
        self.frame_side = int(meta["frame_side"])
        self.entries = [_entry_from_json(e) for e in meta["clips"]]
        self.skipped = {
            _clip_from_json(e["clip"]): tuple(e["stamp"]) for e in meta.get("skipped", [])
        }
        self._audio: np.ndarray | None = None
        self._frames: np.ndarray | None = None
        self._files = {name: _file_id(self.folder / name) for name in (AUDIO_NAME, FRAMES_NAME)}

    @property
    def clips(self) -> list[SoloClip]:
        """The cached clips (absolute paths), in cache order."""
        return [entry.clip for entry in self.entries]

    def holds(self, clips: list[SoloClip]) -> bool:
        """Whether every one of ``clips`` is cached, or was skipped as unreadable, with the files
        it has now (same paths, sizes and modification times)."""
        known = {e.clip: e.stamp for e in self.entries} | self.skipped
        return all(known.get(canonical_clip(c)) == clip_stamp(c) for c in clips)

    def select(self, clips: list[SoloClip]) -> ClipCache:
        """This cache restricted to ``clips``, in their order (those skipped as unreadable
        left out); the files are shared, not copied.

        Raises:
            ValueError: none of ``clips`` is cached.
        """
        by_clip = {entry.clip: entry for entry in self.entries}
        entries = [by_clip[c] for c in map(canonical_clip, clips) if c in by_clip]
        if not entries:
            raise ValueError(f"cache: none of the {len(clips)} clips is in {self.folder}")
        selected = copy.copy(self)
        selected.entries = entries
        return selected

    def audio(self, index: int) -> np.ndarray:
        """Clip ``index``'s mono model-rate samples: float32 ``(samples,)`` (a memory map)."""
        if self._audio is None:
            self._audio = _map(self._same_file(AUDIO_NAME), np.float32, (-1,))
        entry = self.entries[index]
        return self._audio[entry.audio_offset : entry.audio_offset + entry.audio_length]

    def frames(self, index: int) -> np.ndarray:
        """Clip ``index``'s staged frames: uint8 ``(frame_count, 3, side, side)`` (a memory map)."""
        if self._frames is None:
            side = self.frame_side
            self._frames = _map(self._same_file(FRAMES_NAME), np.uint8, (-1, 3, side, side))
        entry = self.entries[index]
        return self._frames[entry.frame_offset : entry.frame_offset + entry.frame_count]

    def __len__(self) -> int:
        return len(self.entries)

    def _same_file(self, name: str) -> Path:
        """``folder/name``, checked to be the file this cache was opened on (a DataLoader worker
        maps the files anew each epoch; a run sharing the folder may have rebuilt them since)."""
        path = self.folder / name
        if _file_id(path) != self._files[name]:
            raise RuntimeError(
                f"cache: {path} was rebuilt (by another run sharing the folder?) after this run "
                "opened it; give runs on different clips different [data] cache folders"
            )
        return path

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_audio"] = state["_frames"] = None  # never pickle the mapped data
        return state


def build_cache(
    clips: list[SoloClip],
    out: str | Path,
    fps: float = 8.0,
    image_size: int = IMAGE_SIZE,
    progress: bool = True,
) -> ClipCache:
    """Decode ``clips`` once into the cache folder ``out`` (created; an old cache is replaced).

    Args:
        clips: solo clips (from :func:`~avpc_plugin.data.clips.clips_from_corpus`,
            :func:`~avpc_plugin.data.clips.clips_from_music_csv` or
            :func:`~avpc_plugin.data.folder.clips_from_video_folder`).
        out: cache folder.
        fps: frame grid rate; the dataset reading the cache uses the same.
        image_size: model frame side; frames are stored at ``int(1.1 * image_size)``.
        progress: show a progress bar (tqdm, only on a terminal).

    Returns:
        The opened cache.

    Raises:
        ValueError: no clip could be decoded, or bad ``fps`` / ``image_size``.
    """
    if fps <= 0:
        raise ValueError(f"fps: expected > 0, got {fps}")
    side = staged_side(image_size)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META_NAME).unlink(missing_ok=True)
    log = SkipLog(f"cache {folder}")
    entries: list[CacheEntry] = []
    skipped: list[tuple[SoloClip, tuple[int, ...]]] = []  # (clip, its stamp)
    audio_offset = frame_offset = 0
    partial_audio = folder / f"{AUDIO_NAME}.partial"
    partial_frames = folder / f"{FRAMES_NAME}.partial"
    bar = tqdm(total=len(clips), unit="clip", desc="cache", disable=None if progress else True)
    with (
        open(partial_audio, "wb") as audio_file,
        open(partial_frames, "wb") as frames_file,
        bar,
    ):
        for clip in map(canonical_clip, clips):
            stamp = clip_stamp(clip)
            try:
                samples = _write_audio(clip, audio_file)
                frames = _write_frames(clip, frames_file, fps, side)
            except (AudioFileError, VideoError, OSError, ValueError) as error:
                log.skip(clip.video if isinstance(error, VideoError) else clip.audio, str(error))
                _rewind(audio_file, audio_offset * 4)
                _rewind(frames_file, frame_offset * side * side * 3)
                skipped.append((clip, stamp))
            else:
                entries.append(CacheEntry(clip, audio_offset, samples, frame_offset, frames, stamp))
                audio_offset += samples
                frame_offset += frames
            bar.update(1)
    log.finish(len(entries))
    if not entries:
        raise ValueError(f"clips: none of the {len(clips)} clips could be decoded")
    os.replace(partial_audio, folder / AUDIO_NAME)
    os.replace(partial_frames, folder / FRAMES_NAME)
    meta = {
        "version": CACHE_VERSION,
        "model_rate": MODEL_RATE,
        "fps": fps,
        "image_size": image_size,
        "frame_side": side,
        "clips": [_entry_to_json(e) for e in entries],
        "skipped": [{"clip": _clip_to_json(clip), "stamp": stamp} for clip, stamp in skipped],
    }
    write_text_atomically(folder / META_NAME, json.dumps(meta, indent=1))
    return ClipCache(folder)


def ensure_cache(
    clips: list[SoloClip],
    folder: str | Path,
    fps: float = 8.0,
    image_size: int = IMAGE_SIZE,
    progress: bool = True,
) -> ClipCache:
    """The cache in ``folder`` restricted to ``clips`` (:meth:`ClipCache.select`) if it holds
    them all (:meth:`ClipCache.holds`) with these settings, else rebuilt from ``clips`` first
    (:func:`build_cache`).

    Runs that share a cache folder (two configs started side by side, as the shipped ones are)
    take turns: the check and any build hold ``folder/build.lock``, so the second run waits for
    the first's build and then opens it instead of writing the same files at the same time."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / LOCK_NAME):
        meta = _read_meta(folder)
        if (
            meta is not None
            and meta.get("version") == CACHE_VERSION
            and meta.get("fps") == fps
            and meta.get("image_size") == image_size
        ):
            cache = ClipCache(folder)
            if cache.holds(clips):
                return cache.select(clips)
        return build_cache(clips, folder, fps, image_size, progress)


class CachedMixSeparateDataset(MixSeparateDataset):
    """:class:`~avpc_plugin.data.datasets.MixSeparateDataset` over a :class:`ClipCache`.

    Same mixing, frame selection and augmentation (it inherits them); only the loaders differ.
    The frame grid rate and image size are the cache's.

    Args:
        cache: an opened cache, or its folder.
        n_sources, train, seed, num_frames, stride_frames, length, normalize, frame_augment,
        audio_augment: as
            for :class:`~avpc_plugin.data.datasets.MixSeparateDataset`.
    """

    def __init__(
        self,
        cache: ClipCache | str | Path,
        n_sources: int = 2,
        train: bool = True,
        seed: int = 0,
        num_frames: int = 3,
        stride_frames: int = 24,
        length: int | None = None,
        normalize: bool = True,
        frame_augment: float = 0.0,
        audio_augment: float = 0.0,
    ) -> None:
        self.cache = cache if isinstance(cache, ClipCache) else ClipCache(cache)
        super().__init__(
            self.cache.clips,
            n_sources=n_sources,
            train=train,
            seed=seed,
            num_frames=num_frames,
            stride_frames=stride_frames,
            fps=self.cache.fps,
            image_size=self.cache.image_size,
            length=length,
            normalize=normalize,
            frame_augment=frame_augment,
            audio_augment=audio_augment,
        )

    def load_audio(self, clip_index: int, first: int) -> np.ndarray:
        samples = self.cache.audio(clip_index)
        out = np.zeros(CLIP_SAMPLES, dtype=np.float32)
        window = samples[first : first + CLIP_SAMPLES]
        out[: len(window)] = window
        return out

    def load_staged_frames(self, clip_index: int, grid: list[int]) -> np.ndarray:
        return np.asarray(self.cache.frames(clip_index)[grid])


def _write_audio(clip: SoloClip, file: Any) -> int:
    with ClipAudio(clip) as audio:
        samples = audio.model_rate(0, audio.model_rate_length)
    file.write(samples.astype(np.float32, copy=False).tobytes())
    return len(samples)


def _write_frames(clip: SoloClip, file: Any, fps: float, side: int) -> int:
    count = frame_count(clip, fps)
    for first in range(0, count, _FRAME_BLOCK):
        grid = range(first, min(first + _FRAME_BLOCK, count))
        images = decode_clip_frames(clip, [k / fps for k in grid])
        file.write(stage_frames(images, side).tobytes())
    return count


def _rewind(file: Any, position: int) -> None:
    file.seek(position)
    file.truncate(position)


def _file_id(path: Path) -> tuple[int, int]:
    """``(inode, mtime_ns)``: changes when the file is replaced, e.g. by a rebuild."""
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def _map(path: Path, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    item = int(np.prod([abs(s) for s in shape])) * np.dtype(dtype).itemsize
    count = path.stat().st_size // item
    full = tuple(count if s == -1 else s for s in shape)
    return np.memmap(path, dtype=dtype, mode="r", shape=full)


def _read_meta(folder: Path) -> dict[str, Any] | None:
    path = folder / META_NAME
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"cache: {path} is not JSON ({error})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"cache: {path} is not a JSON object")
    return meta


def _entry_to_json(entry: CacheEntry) -> dict[str, Any]:
    return {**asdict(entry), "clip": _clip_to_json(entry.clip)}


def _clip_to_json(clip: SoloClip) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(clip).items()}


def _entry_from_json(record: dict[str, Any]) -> CacheEntry:
    return CacheEntry(
        _clip_from_json(record["clip"]),
        int(record["audio_offset"]),
        int(record["audio_length"]),
        int(record["frame_offset"]),
        int(record["frame_count"]),
        tuple(record.get("stamp", ())),
    )


def _clip_from_json(record: dict[str, Any]) -> SoloClip:
    clip = dict(record)
    clip["audio"], clip["video"] = Path(clip["audio"]), Path(clip["video"])
    return SoloClip(**clip)
