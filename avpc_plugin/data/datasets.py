"""Mix-and-separate training data: solo clips from our corpus or the MUSIC layout, mixed on the fly.

A :class:`~avpc_plugin.data.clips.SoloClip` is one solo performance: an instrument, its audio and
its frames (an mp4, or a folder of frames extracted at a known rate as in MUSIC); the clip lists
come from :mod:`avpc_plugin.data.clips` and :mod:`avpc_plugin.data.folder`, picked by
:func:`read_clips`. :class:`MixSeparateDataset` draws
``N`` clips of different recordings per item, cuts a ``CLIP_SAMPLES``-sample window from each,
peak-normalises it, scales it by a random gain in ``[0.5, 1.5)`` and mixes by the mean
(:mod:`avpc_plugin.audio.mixing`), and picks 3 frames 24 frames apart on an 8 fps grid around
the window's centre. Frames are staged (short side to 246 px, centre square, uint8) and then
randomly cropped to 224 and flipped in training, or resized to 224 in validation, and
ImageNet-normalised (:mod:`avpc_plugin.data.frames`), as the reference does. Audio is read as
one mono signal resampled to ``MODEL_RATE`` (MUSIC chunks joined), so a window may span chunks.
Training items are random (fresh per DataLoader worker and epoch); validation items depend only
on ``(seed, index)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from avpc_plugin.audio.augment import equalize_randomly
from avpc_plugin.audio.io import AudioFileError, AudioReader, resample_span
from avpc_plugin.audio.mixing import GAIN_HIGH, GAIN_LOW, make_mixture, peak_normalize
from avpc_plugin.audio.stft import CLIP_SAMPLES, MODEL_RATE
from avpc_plugin.data.clips import SoloClip, clips_from_corpus, clips_from_music_csv
from avpc_plugin.data.corpus import is_corpus_folder
from avpc_plugin.data.folder import clips_from_video_folder
from avpc_plugin.data.frames import (
    crop_for_model,
    normalize_frames,
    restyle_frames,
    stage_frames,
    staged_side,
)
from avpc_plugin.video.decode import IMAGE_SIZE, VideoReader

_GRID_EPS = 1e-6  # frames: times are floats, frame k starts at exactly k / fps


def read_clips(path: str | Path, index: str | Path | None = None) -> list[SoloClip]:
    """Solo clips of a corpus folder (``index.jsonl``), a folder of solo videos (instruments
    from their folders' names, or from ``index``: :mod:`avpc_plugin.data.folder`) or a
    MUSIC-layout CSV index, by what ``path`` is."""
    path = Path(path)
    if not path.is_dir():
        return clips_from_music_csv(path)
    if is_corpus_folder(path):
        return clips_from_corpus(path)
    return clips_from_video_folder(path, index)


class MixSeparateDataset(Dataset[dict[str, Any]]):
    """Mixtures of ``n_sources`` solos with their frames (see the module docstring).

    Args:
        clips: solo clips, at least ``n_sources`` recordings.
        n_sources: sources per mixture ``N``.
        train: random windows, partners, gains and crop/flip; else deterministic per index.
        seed: base seed of the deterministic (val) mode.
        num_frames, stride_frames, fps: frame selection on the grid of ``fps`` frames per second:
            ``num_frames`` frames ``stride_frames`` grid steps apart around the audio window's
            centre (clamped to the clip).
        image_size: side of the frames in pixels.
        length: items per epoch (default ``len(clips)``).
        normalize: ImageNet-normalised float32 frames; ``False``: uint8 frames, 4x less to move
            from the loader workers (normalise the batch on the GPU with
            :func:`avpc_plugin.data.frames.normalize_frames`).
        frame_augment: in training, the chance that a source's frames are restyled
            (:func:`avpc_plugin.data.frames.restyle_frames`: colour jitter, grayscale, line
            drawing); 0 = crop and flip only.
        audio_augment: in training, the chance that a source's audio goes through a random
            equaliser (:func:`avpc_plugin.audio.augment.equalize_randomly`) before it is
            normalised and mixed; 0 = none.

    An item is a dict: ``audios`` float32 ``(N, CLIP_SAMPLES)`` gained sources, ``mix``
    ``(CLIP_SAMPLES,)`` their mean, ``frames`` ``(N, 3, num_frames, image_size, image_size)``
    (float32, or uint8 without ``normalize``), ``gains`` ``(N,)``, ``instruments`` list of N
    names.

    This class decodes every item from the clips' files; :class:`~avpc_plugin.data.cache.
    CachedMixSeparateDataset` overrides the two loaders (:meth:`load_audio`,
    :meth:`load_staged_frames`) to read a pre-decoded cache and gives the same items.
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
        normalize: bool = True,
        frame_augment: float = 0.0,
        audio_augment: float = 0.0,
    ) -> None:
        if n_sources < 1:
            raise ValueError(f"n_sources: expected >= 1, got {n_sources}")
        recordings = len({_recording(c) for c in clips})
        if recordings < n_sources:
            raise ValueError(
                f"clips: need at least {n_sources} distinct recordings to mix {n_sources} "
                f"sources, got {recordings}"
            )
        if num_frames < 1 or stride_frames < 0:
            raise ValueError(
                f"num_frames, stride_frames: expected >= 1 and >= 0, got {num_frames}, "
                f"{stride_frames}"
            )
        if fps <= 0:
            raise ValueError(f"fps: expected > 0, got {fps}")
        for name, chance in (("frame_augment", frame_augment), ("audio_augment", audio_augment)):
            if not 0.0 <= chance <= 1.0:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {chance}")
        self.clips = clips
        self.n_sources = n_sources
        self.train = train
        self.seed = seed
        self.num_frames = num_frames
        self.stride_frames = stride_frames
        self.fps = fps
        self.image_size = image_size
        self.frame_side = staged_side(image_size)
        self.length = length if length is not None else len(clips)
        self.normalize = normalize
        self.frame_augment = frame_augment
        self.audio_augment = audio_augment

    def __len__(self) -> int:
        return self.length

    def _rng(self, index: int) -> np.random.Generator:
        if self.train:  # torch gives every DataLoader worker and epoch its own initial seed
            return np.random.default_rng([torch.initial_seed() % 2**63, index])
        return np.random.default_rng([self.seed, index])

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        # Restyling and equalising draw from child streams of their own, so windows, partners
        # and gains are the same with and without them.
        style_rng, timbre_rng = rng.spawn(2) if self.train else (None, None)
        chosen = [index % len(self.clips)]
        while len(chosen) < self.n_sources:
            other = int(rng.integers(len(self.clips)))
            if all(_recording(self.clips[other]) != _recording(self.clips[c]) for c in chosen):
                chosen.append(other)
        waves, frames = [], []
        window = CLIP_SAMPLES / MODEL_RATE
        for clip_index in chosen:
            clip = self.clips[clip_index]
            slack = max(clip.duration - window, 0.0)
            start = float(rng.uniform(0.0, slack)) if self.train else slack / 2
            wave = self.load_audio(clip_index, int(start * MODEL_RATE))
            if timbre_rng is not None and timbre_rng.random() < self.audio_augment:
                wave = equalize_randomly(wave, timbre_rng)
            waves.append(torch.from_numpy(wave))
            centre = math.floor((start + window / 2) * self.fps + _GRID_EPS)
            offsets = (np.arange(self.num_frames) - self.num_frames // 2) * self.stride_frames
            grid = np.clip(centre + offsets, 0, frame_count(clip, self.fps) - 1)
            staged = self.load_staged_frames(clip_index, [int(k) for k in grid])
            crop = crop_for_model(staged, self.image_size, rng if self.train else None)
            if style_rng is not None and style_rng.random() < self.frame_augment:
                crop = restyle_frames(crop, style_rng)
            frames.append(crop)
        solos = peak_normalize(torch.stack(waves))[None]  # (1, N, L)
        gains = torch.from_numpy(rng.uniform(GAIN_LOW, GAIN_HIGH, size=(1, len(chosen))))
        mixture = make_mixture(solos, gains.float())
        pixels = torch.from_numpy(np.stack(frames))
        return {
            "audios": mixture.sources[0],
            "mix": mixture.mix[0],
            "frames": normalize_frames(pixels) if self.normalize else pixels,
            "gains": gains[0].float(),
            "instruments": [self.clips[c].instrument for c in chosen],
        }

    def load_audio(self, clip_index: int, first: int) -> np.ndarray:
        """Model-rate mono samples ``[first, first + CLIP_SAMPLES)`` of a clip (zero-padded past
        its end): float32 ``(CLIP_SAMPLES,)``."""
        with ClipAudio(self.clips[clip_index]) as audio:
            return audio.model_rate(first, first + CLIP_SAMPLES)

    def load_staged_frames(self, clip_index: int, grid: list[int]) -> np.ndarray:
        """Staged frames (:mod:`avpc_plugin.data.frames`) at grid positions ``k / fps`` s:
        uint8 ``(T, 3, frame_side, frame_side)``."""
        images = decode_clip_frames(self.clips[clip_index], [k / self.fps for k in grid])
        return stage_frames(images, self.frame_side)


def _recording(clip: SoloClip) -> str:
    return clip.recording or str(clip.audio)


def frame_count(clip: SoloClip, fps: float) -> int:
    """Frames of ``clip`` on the dataset's frame grid: frame ``k`` shows time ``k / fps``."""
    return max(1, math.floor(clip.duration * fps + _GRID_EPS))


class ClipAudio:
    """The audio of one :class:`SoloClip` as one signal, MUSIC chunks joined end to end.

    Use as a context manager; :meth:`model_rate` gives mono samples at ``MODEL_RATE``.
    """

    def __init__(self, clip: SoloClip) -> None:
        if clip.audio.is_dir():  # MUSIC layout: 20-second chunks 000000.wav, 000001.wav, ...
            paths = sorted(clip.audio.glob("[0-9][0-9][0-9][0-9][0-9][0-9].wav"))
        else:
            paths = [clip.audio]
        if not paths:
            raise AudioFileError(f"{clip.audio}: no audio chunks")
        self._readers: list[AudioReader] = []
        try:
            for path in paths:
                self._readers.append(AudioReader(path))
        except BaseException:
            self.close()
            raise
        self.sample_rate = self._readers[0].info.sample_rate
        for reader in self._readers:
            if reader.info.sample_rate != self.sample_rate:
                raise AudioFileError(
                    f"{reader.path}: sample rate {reader.info.sample_rate} Hz differs from "
                    f"{self.sample_rate} Hz of {paths[0]}"
                )
        self._starts = np.cumsum([0] + [r.info.frames for r in self._readers])
        self.length = int(self._starts[-1])

    def read_mono(self, start: int, count: int) -> np.ndarray:
        """Mono (channel mean) samples ``[start, start + count)`` at the file rate, zeros
        outside the signal: float32 ``(count,)``."""
        out = np.zeros(count, dtype=np.float32)
        for reader, first in zip(self._readers, self._starts[:-1], strict=False):
            lo = max(start, int(first))
            hi = min(start + count, int(first) + reader.info.frames)
            if hi > lo:
                out[lo - start : hi - start] = reader.read(lo - int(first), hi - lo).mean(axis=0)
        return out

    def model_rate(self, first: int, stop: int) -> np.ndarray:
        """Mono samples ``[first, stop)`` at ``MODEL_RATE`` (zeros past the end): float32."""
        return resample_span(self.read_mono, self.sample_rate, MODEL_RATE, first, stop, self.length)

    @property
    def model_rate_length(self) -> int:
        """Samples of the whole signal at ``MODEL_RATE``."""
        return -(-self.length * MODEL_RATE // self.sample_rate)

    def close(self) -> None:
        for reader in self._readers:
            reader.close()

    def __enter__(self) -> ClipAudio:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def decode_clip_frames(clip: SoloClip, times: Sequence[float]) -> np.ndarray:
    """RGB frames of ``clip`` on screen at ``times`` seconds: uint8 ``(T, H, W, 3)``.

    A frames folder (MUSIC layout) shows ``{k:06d}.jpg`` from ``k / clip.fps`` seconds on.

    Raises:
        VideoError: an unreadable video, or a time past its end.
        OSError: a missing or unreadable frame image.
    """
    if clip.video.is_dir():
        images = []
        for t in times:
            path = clip.video / f"{math.floor(t * clip.fps + _GRID_EPS):06d}.jpg"
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB")))
        return np.stack(images)
    with VideoReader(clip.video) as reader:
        return np.stack(reader.frames_at(list(times)))
