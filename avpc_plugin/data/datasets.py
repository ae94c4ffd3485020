"""Mix-and-separate training data: solo clips from our corpus or the MUSIC layout, mixed on the fly.

A :class:`SoloClip` is one solo performance: an instrument, its audio and its frames (an mp4, or
a folder of frames extracted at a known rate as in MUSIC). :class:`MixSeparateDataset` draws
``N`` clips of different recordings per item, cuts a ``CLIP_SAMPLES``-sample window from each,
peak-normalises it, scales it by a random gain in ``[0.5, 1.5)`` and mixes by the mean
(:mod:`avpc_plugin.audio.mixing`), and picks 3 frames 24 frames apart (at 8 fps) centred on the
window, ImageNet-normalised at 224 px (:func:`avpc_plugin.video.decode.preprocess_frames`).
Training items are random (fresh per DataLoader worker and epoch) with crop and flip
augmentation; validation items depend only on ``(seed, index)``.

Loaders check every file when they build the clip list: a missing or unreadable file is skipped
with a warning naming it, and one warning at the end counts the skipped clips.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from avpc_plugin.audio.io import audio_info, read_audio
from avpc_plugin.audio.mixing import GAIN_HIGH, GAIN_LOW, make_mixture, peak_normalize
from avpc_plugin.audio.stft import CLIP_SAMPLES, MODEL_RATE
from avpc_plugin.data.corpus import read_index
from avpc_plugin.video.decode import IMAGE_SIZE, preprocess_frames

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


class MixSeparateDataset(Dataset[dict[str, Any]]):
    """Mixtures of ``n_sources`` solos with their frames (see the module docstring).

    Args:
        clips: solo clips, at least 2 recordings.
        n_sources: sources per mixture ``N``.
        train: random windows, partners, gains and crop/flip; else deterministic per index.
        seed: base seed of the deterministic (val) mode.
        num_frames, stride_frames, fps: frame selection: ``num_frames`` frames
            ``stride_frames / fps`` seconds apart, centred on the audio window.
        image_size: side of the frames in pixels.
        length: items per epoch (default ``len(clips)``).

    An item is a dict: ``audios`` float32 ``(N, CLIP_SAMPLES)`` gained sources, ``mix``
    ``(CLIP_SAMPLES,)`` their mean, ``frames`` ``(N, 3, num_frames, image_size, image_size)``,
    ``gains`` ``(N,)``, ``instruments`` list of N names.
    """

    def __init__(
        self,
        clips: list[SoloClip],
        n_sources: int = 2,
        train: bool = True,
        seed: int = 0,
        num_frames: int = 3,
        stride_frames: int = 24,
        fps: float = 8.0,
        image_size: int = IMAGE_SIZE,
        length: int | None = None,
    ) -> None:
        if n_sources < 1:
            raise ValueError(f"n_sources: expected >= 1, got {n_sources}")
        if len({c.recording or str(c.audio) for c in clips}) < n_sources:
            raise ValueError(f"clips: need at least {n_sources} distinct recordings")
        self.clips = clips
        self.n_sources = n_sources
        self.train = train
        self.seed = seed
        self.num_frames = num_frames
        self.frame_step = stride_frames / fps
        self.image_size = image_size
        self.length = length if length is not None else len(clips)

    def __len__(self) -> int:
        return self.length

    def _rng(self, index: int) -> np.random.Generator:
        if self.train:  # torch gives every DataLoader worker and epoch its own initial seed
            return np.random.default_rng([torch.initial_seed() % 2**63, index])
        return np.random.default_rng([self.seed, index])

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        chosen = [self.clips[index % len(self.clips)]]
        while len(chosen) < self.n_sources:
            other = self.clips[int(rng.integers(len(self.clips)))]
            if all(_recording(other) != _recording(c) for c in chosen):
                chosen.append(other)
        waves, frames = [], []
        for clip in chosen:
            wave, start = self._audio_window(clip, rng)
            waves.append(wave)
            centre = start + CLIP_SAMPLES / MODEL_RATE / 2
            frames.append(self._frames(clip, centre, rng))
        solos = peak_normalize(torch.stack(waves))[None]  # (1, N, L)
        gains = torch.from_numpy(rng.uniform(GAIN_LOW, GAIN_HIGH, size=(1, len(chosen))))
        mixture = make_mixture(solos, gains.float())
        return {
            "audios": mixture.sources[0],
            "mix": mixture.mix[0],
            "frames": torch.stack(frames),
            "gains": gains[0].float(),
            "instruments": [c.instrument for c in chosen],
        }

    def _audio_window(self, clip: SoloClip, rng: np.random.Generator) -> tuple[Tensor, float]:
        """``CLIP_SAMPLES`` model-rate samples from ``clip`` (zero-padded if shorter) and the
        window's start in seconds: random in training, centred otherwise."""
        window = CLIP_SAMPLES / MODEL_RATE
        slack = max(clip.duration - window, 0.0)
        start = float(rng.uniform(0.0, slack)) if self.train else slack / 2
        if clip.audio.is_dir():  # MUSIC layout: 20-second chunks
            chunk = min(
                int(start // MUSIC_CHUNK_SECONDS), int(clip.duration // MUSIC_CHUNK_SECONDS)
            )
            offset = start - chunk * MUSIC_CHUNK_SECONDS
            audio, rate = read_audio(clip.audio / f"{chunk:06d}.wav")
            first = int(offset * rate)
            audio = audio[:, first : first + int(np.ceil(window * rate)) + 1]
        else:
            audio, rate = read_audio(clip.audio)
            first = int(start * rate)
            audio = audio[:, first : first + int(np.ceil(window * rate)) + 1]
        mono = audio.mean(axis=0)
        if rate != MODEL_RATE:
            from avpc_plugin.audio.io import resample

            mono = resample(mono[None], rate, MODEL_RATE)[0]
        out = np.zeros(CLIP_SAMPLES, dtype=np.float32)
        n = min(CLIP_SAMPLES, mono.shape[-1])
        out[:n] = mono[:n]
        return torch.from_numpy(out), start

    def _frames(self, clip: SoloClip, centre: float, rng: np.random.Generator) -> Tensor:
        """``(3, T, S, S)`` frames around ``centre`` seconds, augmented in training."""
        offsets = (np.arange(self.num_frames) - self.num_frames // 2) * self.frame_step
        last = max(clip.duration - 1.0 / clip.fps, 0.0)
        times = [float(np.clip(centre + o, 0.0, last)) for o in offsets]
        if clip.video.is_dir():
            from PIL import Image

            images = [
                np.asarray(Image.open(clip.video / f"{round(t * clip.fps):06d}.jpg").convert("RGB"))
                for t in times
            ]
        else:
            from avpc_plugin.video.decode import VideoReader

            with VideoReader(clip.video) as reader:
                images = reader.frames_at(times)
        box = None
        stack = np.stack(images)
        if self.train:
            side = 1 / 1.1  # the reference: resize to 1.1 x, random crop, random flip
            box = (float(rng.uniform(0, 1 - side)), float(rng.uniform(0, 1 - side)), side, side)
            if rng.random() < 0.5:
                stack = stack[:, :, ::-1]
        tensor = preprocess_frames(np.ascontiguousarray(stack), box=box, size=self.image_size)
        return tensor.permute(1, 0, 2, 3)  # (T, 3, S, S) -> (3, T, S, S)


def _recording(clip: SoloClip) -> str:
    return clip.recording or str(clip.audio)
