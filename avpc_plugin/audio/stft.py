"""Short-time Fourier transform and its exact inverse, batched over any leading dimensions.

Units: waveforms in samples (linear amplitude, no unit), spectrograms as complex STFT
coefficients whose magnitude is the *unnormalised* linear magnitude (the convention of
``librosa.stft`` the reference code uses, so magnitudes, the loss weight ``log1p(|X|)`` and the
net's log-magnitude input keep the scale the reference checkpoints were trained on).

The model-rate constants below are shared by the whole package: a clip of ``CLIP_SAMPLES``
samples at ``MODEL_RATE`` Hz gives a ``FREQ_BINS x CLIP_FRAMES`` = 512 x 256 spectrogram, which
the log-frequency warp (:mod:`avpc_plugin.audio.warp`) turns into ``WARPED_BINS x CLIP_FRAMES``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

MODEL_RATE = 11025
"""Sample rate the nets work at (Hz)."""
N_FFT = 1022
"""FFT size (= window length, samples) at the model rate."""
HOP = 256
"""Hop between frames (samples) at the model rate."""
CLIP_SAMPLES = 65535
"""Samples in one model clip (about 5.94 s at ``MODEL_RATE``)."""
FREQ_BINS = N_FFT // 2 + 1
"""Linear-frequency bins of a model-rate STFT: 512."""
CLIP_FRAMES = 1 + CLIP_SAMPLES // HOP
"""STFT frames of one model clip (centred frames): 256."""
WARPED_BINS = 256
"""Rows of the log-frequency-warped spectrogram the nets see."""

PadMode = Literal["reflect", "constant"]


@dataclass(frozen=True)
class StftConfig:
    """A centred STFT with a periodic Hann window of ``n_fft`` samples.

    Attributes:
        n_fft: FFT size and window length (samples), at least 2.
        hop: hop between frames (samples), in ``[1, n_fft]``.
        pad_mode: how the signal is extended by ``n_fft // 2`` samples at each end to centre the
            frames: ``"reflect"`` (torch's and librosa < 0.10's default, so the reference's) or
            ``"constant"`` (zeros; also takes signals shorter than ``n_fft // 2 + 1`` samples).

    The default is the model-rate STFT (1022 / 256 at 11025 Hz). Full-rate audio uses the same
    class with a larger FFT, e.g. ``StftConfig(n_fft=4094, hop=1024)`` at 44.1 kHz.
    """

    n_fft: int = N_FFT
    hop: int = HOP
    pad_mode: PadMode = "reflect"

    def __post_init__(self) -> None:
        if self.n_fft < 2:
            raise ValueError(f"StftConfig.n_fft: expected an int >= 2, got {self.n_fft!r}")
        if not 1 <= self.hop <= self.n_fft:
            raise ValueError(
                f"StftConfig.hop: expected an int in [1, n_fft={self.n_fft}], got {self.hop!r}"
            )
        if self.pad_mode not in ("reflect", "constant"):
            raise ValueError(
                f"StftConfig.pad_mode: expected 'reflect' or 'constant', got {self.pad_mode!r}"
            )

    @property
    def bins(self) -> int:
        """Frequency bins of the one-sided spectrum: ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def min_length(self) -> int:
        """Shortest signal (samples) this config can analyse."""
        return self.n_fft // 2 + 1 if self.pad_mode == "reflect" else 1

    def frames(self, length: int) -> int:
        """Frames the STFT of a ``length``-sample signal has: ``1 + length // hop``."""
        return 1 + length // self.hop


MODEL_STFT = StftConfig()
"""The model-rate STFT: n_fft 1022, hop 256, reflect padding."""


@functools.lru_cache(maxsize=32)
def hann_window(n_fft: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Periodic Hann window of ``n_fft`` samples on ``device`` / ``dtype`` (cached, do not modify).

    Built outside inference mode so a window first made under ``torch.inference_mode()`` can still
    be used later by code that records gradients.
    """
    with torch.inference_mode(False):
        return torch.hann_window(n_fft, periodic=True, device=device, dtype=dtype)


def _check_real_wave(wave: Tensor, config: StftConfig) -> None:
    if wave.dim() < 1 or not wave.is_floating_point():
        raise ValueError(
            f"wave: expected a real floating-point tensor (..., samples), "
            f"got dtype {wave.dtype} with shape {tuple(wave.shape)}"
        )
    if wave.shape[-1] < config.min_length:
        raise ValueError(
            f"wave: {wave.shape[-1]} samples is too short for n_fft={config.n_fft} with "
            f"pad_mode={config.pad_mode!r} (need at least {config.min_length}; "
            f"use pad_mode='constant' for shorter signals)"
        )


def stft(wave: Tensor, config: StftConfig = MODEL_STFT) -> Tensor:
    """Complex STFT of a batch of waveforms.

    Args:
        wave: real tensor ``(..., L)``, L samples (float32 or float64).
        config: FFT size, hop and padding; defaults to the model-rate STFT.

    Returns:
        Complex tensor ``(..., F, T)`` with ``F = config.bins`` and ``T = 1 + L // hop``; for a
        65535-sample model clip ``(..., 512, 256)``. Unnormalised (librosa's scale).
    """
    _check_real_wave(wave, config)
    lead, length = wave.shape[:-1], wave.shape[-1]
    spec = torch.stft(
        wave.reshape(-1, length),
        n_fft=config.n_fft,
        hop_length=config.hop,
        win_length=config.n_fft,
        window=hann_window(config.n_fft, wave.device, wave.dtype),
        center=True,
        pad_mode=config.pad_mode,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: Tensor, length: int, config: StftConfig = MODEL_STFT) -> Tensor:
    """Inverse of :func:`stft` (windowed overlap-add, exact up to float rounding).

    Args:
        spec: complex tensor ``(..., F, T)`` with ``F = config.bins``.
        length: samples of the output; for a spectrogram made by :func:`stft` pass the original
            length (needed because ``L // hop`` loses the remainder).
        config: the config the spectrogram was made with.

    Returns:
        Real tensor ``(..., length)`` of the matching real dtype, on ``spec``'s device.
    """
    if not spec.is_complex() or spec.dim() < 2:
        raise ValueError(
            f"spec: expected a complex tensor (..., bins, frames), "
            f"got dtype {spec.dtype} with shape {tuple(spec.shape)}"
        )
    if spec.shape[-2] != config.bins:
        raise ValueError(
            f"spec: expected {config.bins} frequency bins for n_fft={config.n_fft}, "
            f"got shape {tuple(spec.shape)}"
        )
    if length < 1:
        raise ValueError(f"length: expected a positive number of samples, got {length!r}")
    lead, (bins, frames) = spec.shape[:-2], spec.shape[-2:]
    wave = torch.istft(
        spec.reshape(-1, bins, frames),
        n_fft=config.n_fft,
        hop_length=config.hop,
        win_length=config.n_fft,
        window=hann_window(config.n_fft, spec.device, spec.real.dtype),
        center=True,
        normalized=False,
        onesided=True,
        length=length,
    )
    return wave.reshape(*lead, length)


def magphase(spec: Tensor) -> tuple[Tensor, Tensor]:
    """Split a complex spectrogram ``(..., F, T)`` into linear magnitude and phase (radians).

    Returns:
        ``(mag, phase)``, both real ``(..., F, T)``; ``phase`` in ``(-pi, pi]``.
    """
    if not spec.is_complex():
        raise ValueError(f"spec: expected a complex tensor, got dtype {spec.dtype}")
    return spec.abs(), spec.angle()


LOG_FLOOR = 1e-10
"""Added to a linear magnitude before the log (the reference's floor)."""


def log_magnitude(mag: Tensor) -> Tensor:
    """The sound nets' input: ``log(mag + LOG_FLOOR)`` of a linear magnitude, same shape."""
    return torch.log(mag + LOG_FLOOR)


def polar(mag: Tensor, phase: Tensor) -> Tensor:
    """Inverse of :func:`magphase`: ``mag * exp(i * phase)``.

    Args:
        mag: linear magnitude ``(..., F, T)``.
        phase: phase in radians, broadcastable to ``mag``.

    Returns:
        Complex tensor of the broadcast shape.
    """
    mag, phase = torch.broadcast_tensors(mag, phase.to(mag.dtype))
    return torch.polar(mag, phase)
