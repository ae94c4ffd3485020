"""Mix-and-separate helpers: level normalisation, random gains and mixing of solo waveforms.

Waveforms are linear amplitude (1.0 = full scale), shapes ``(..., L)`` with ``L`` samples;
a set of sources is ``(B, N, L)`` with ``N`` sources. Training mixes follow the reference:
each solo is normalised, scaled by a random gain in ``[0.5, 1.5)`` and the mixture is the mean
of the scaled solos (``sum / N``), so the targets are the scaled solos themselves.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

GAIN_LOW = 0.5
"""Smallest random gain of a training source."""
GAIN_HIGH = 1.5
"""Upper bound (exclusive) of the random gain of a training source."""


def _check_wave(wave: Tensor) -> None:
    if wave.dim() < 1 or wave.shape[-1] < 1 or not wave.is_floating_point():
        raise ValueError(
            f"wave: expected real floating-point (..., samples) with samples >= 1, "
            f"got dtype {wave.dtype} shape {tuple(wave.shape)}"
        )


def peak_normalize(wave: Tensor, eps: float = 1e-8) -> Tensor:
    """Scale every waveform so its largest absolute sample is 1.

    Args:
        wave: real ``(..., L)``.
        eps: waveforms whose peak is below ``eps`` are divided by ``eps`` instead (silence stays
            silent, no division by zero).

    Returns:
        ``(..., L)``, same dtype and device.
    """
    _check_wave(wave)
    peak = wave.abs().amax(dim=-1, keepdim=True)
    return wave / peak.clamp_min(eps)


def minmax_normalize(wave: Tensor, eps: float = 1e-3) -> Tensor:
    """The reference dataset's normalisation: map ``[min, max]`` of every waveform to ``[-1, 1)``.

    ``2 (x - min) / (max - min + eps) - 1``. Unlike :func:`peak_normalize` this also shifts the
    waveform so the midpoint of its range is (about) 0, i.e. it adds a DC offset when the
    positive and negative peaks differ. Kept for reproducing the reference's training data.

    Args:
        wave: real ``(..., L)``.
        eps: added to the range (the reference's 1e-3), so silence maps to -1 without NaN.

    Returns:
        ``(..., L)`` in ``[-1, 1)``, same dtype and device.
    """
    _check_wave(wave)
    low = wave.amin(dim=-1, keepdim=True)
    high = wave.amax(dim=-1, keepdim=True)
    return 2 * (wave - low) / (high - low + eps) - 1


def random_gains(
    shape: tuple[int, ...] | torch.Size,
    low: float = GAIN_LOW,
    high: float = GAIN_HIGH,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Independent gains drawn uniformly from ``[low, high)``.

    Args:
        shape: shape of the result, e.g. ``(B, N)`` for one gain per source.
        low, high: the range (the reference's 0.5 and 1.5).
        generator: a seeded ``torch.Generator`` for reproducible gains; it must live on
            ``device`` (``None`` uses torch's global generator).
        device, dtype: of the result (default: the generator's device, torch's default dtype).

    Returns:
        Tensor of ``shape``.
    """
    if not low <= high:
        raise ValueError(f"low, high: expected low <= high, got low={low!r}, high={high!r}")
    if device is None and generator is not None:
        device = generator.device
    unit = torch.rand(shape, generator=generator, device=device, dtype=dtype)
    return low + (high - low) * unit


def mix_sources(sources: Tensor) -> Tensor:
    """The mixture of a set of sources: their mean (``sum / N``), as in the reference.

    Args:
        sources: ``(..., N, L)``, e.g. ``(B, N, L)``.

    Returns:
        ``(..., L)``, e.g. ``(B, L)``.
    """
    if sources.dim() < 2 or sources.shape[-2] < 1:
        raise ValueError(
            f"sources: expected (..., N, samples) with N >= 1, got {tuple(sources.shape)}"
        )
    return sources.mean(dim=-2)


class Mixture(NamedTuple):
    """A training mixture and the sources it is the mean of."""

    sources: Tensor
    """Gained (and optionally clipped) sources ``(B, N, L)``: the separation targets."""
    mix: Tensor
    """``(B, L)``, exactly ``mix_sources(sources)``."""


def make_mixture(
    sources: Tensor, gains: Tensor | None = None, clip: float | None = None
) -> Mixture:
    """Scale each source by its gain, optionally clip, and mix.

    Args:
        sources: normalised solo waveforms ``(B, N, L)``.
        gains: ``(B, N)`` per-source gains (see :func:`random_gains`), or ``None`` for 1.
        clip: if given, clamp the gained sources to ``[-clip, clip]`` before mixing (the
            reference clips to ``[-1, 1]``, so gains above 1 distort its loudest solos).

    Returns:
        :class:`Mixture` whose ``mix`` equals ``mix_sources(mixture.sources)`` exactly.
    """
    if sources.dim() != 3:
        raise ValueError(f"sources: expected (B, N, samples), got shape {tuple(sources.shape)}")
    if gains is not None:
        if gains.shape != sources.shape[:2]:
            raise ValueError(
                f"gains: expected shape {tuple(sources.shape[:2])} (B, N), got {tuple(gains.shape)}"
            )
        sources = sources * gains.to(sources.dtype).unsqueeze(-1)
    if clip is not None:
        sources = sources.clamp(-clip, clip)
    return Mixture(sources=sources, mix=mix_sources(sources))
