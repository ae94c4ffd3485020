"""A stem preset's model-rate mask settings: Gaussian smoothing, then the mask mode.

Both act on one window's linear-frequency mask probabilities ``(..., FREQ_BINS, frames)`` before
the overlap-add, so they stream with the windows (window edges are padded by repeating the edge,
and the overlap-add's taper hides what is left of them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from avpc_plugin.audio.stft import HOP, MODEL_RATE, N_FFT
from avpc_plugin.stem_settings import MaskSettings, SmoothingSettings

MODEL_FRAME_MS = 1000.0 * HOP / MODEL_RATE
"""Milliseconds between model frames (23.2)."""
MODEL_BIN_HZ = MODEL_RATE / N_FFT
"""Hz between model bins (10.8)."""


def gaussian_kernel(
    sigma: float, max_radius: int, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """Normalised Gaussian taps ``(2r + 1,)`` with std ``sigma`` (in taps), ``r = ceil(3 sigma)``
    capped at ``max_radius``."""
    radius = min(max(1, math.ceil(3.0 * sigma)), max_radius)
    offsets = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def smooth_along(x: Tensor, sigma: float, dim: int) -> Tensor:
    """Gaussian smoothing of ``x`` along ``dim`` (std ``sigma`` samples; edges repeated)."""
    if sigma <= 0 or x.shape[dim] < 2:
        return x
    moved = x.movedim(dim, -1)
    rows = moved.reshape(-1, 1, moved.shape[-1])
    taps = gaussian_kernel(sigma, moved.shape[-1] - 1, x.dtype, x.device)
    radius = (taps.numel() - 1) // 2
    padded = F.pad(rows, (radius, radius), mode="replicate")
    smoothed = F.conv1d(padded, taps.view(1, 1, -1))
    return smoothed.reshape(moved.shape).movedim(-1, dim)


def smooth_mask(probs: Tensor, smoothing: SmoothingSettings) -> Tensor:
    """Smooth mask probabilities ``(..., FREQ_BINS, frames)`` over time and frequency."""
    out = smooth_along(probs, smoothing.time_ms / MODEL_FRAME_MS, dim=-1)
    return smooth_along(out, smoothing.freq_hz / MODEL_BIN_HZ, dim=-2)


def apply_mask_mode(probs: Tensor, mask: MaskSettings) -> Tensor:
    """Soft: probabilities below ``threshold`` become 0; binary: 1 above ``threshold``, else 0."""
    if mask.mode == "binary":
        return (probs > mask.threshold).to(probs.dtype)
    if mask.threshold > 0:
        return torch.where(probs >= mask.threshold, probs, torch.zeros_like(probs))
    return probs


def refine_mask(probs: Tensor, mask: MaskSettings, smoothing: SmoothingSettings) -> Tensor:
    """:func:`smooth_mask`, then :func:`apply_mask_mode` (so binary masks lose isolated bins)."""
    return apply_mask_mode(smooth_mask(probs, smoothing), mask)
