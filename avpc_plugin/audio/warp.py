"""The Sound-of-Pixels log-frequency warp of spectrograms and its inverse.

The nets see a ``WARPED_BINS``-row spectrogram whose rows are log-spaced in frequency: row ``r``
of ``H`` samples the linear spectrogram (``F`` bins) at the reference code's position

    y_r = -1 + 2 r / (H - 1)                     (rows evenly spaced in [-1, 1])
    g_r = (21 ** ((y_r + 1) / 2) - 11) / 10      (log-spaced in [-1, 1])
    p_r = ((g_r + 1) F - 1) / 2                  (bin coordinate, ``align_corners=False``)

which is exactly where the reference's ``F.grid_sample(mag, warpgrid(...), align_corners=False)``
reads (bilinear), so converted reference checkpoints see the input they were trained on. Near
DC the rows are 0.31 bins apart (oversampled), near Nyquist 6.4 bins apart.

Differences from the reference code, all deliberate:

* Time is left untouched (frame ``t`` out = frame ``t`` in). The reference's grid also spans
  ``linspace(-1, 1, T)`` in time, which with ``align_corners=False`` stretches time by
  ``T / (T - 1)`` and halves the first and last frames against zero padding.
* Positions outside the spectrogram (warped rows 0, 1 and 255, half a bin below DC or above
  Nyquist) take the edge bin (grid_sample's ``padding_mode="border"``) instead of blending with
  zeros, so a constant field stays constant and masks that sum to one still do after un-warping.
* :func:`unwarp_from_log_freq` inverts the warp's sampling map (bin ``q`` reads the
  fractional row whose sampled position is ``q``, see :func:`linear_bin_positions`). The
  reference's un-warp grid (``log(10 y + 11) / log(21) * 2 - 1`` on ``linspace(-1, 1, F)``,
  ``align_corners=False``) mixes the two ``align_corners`` conventions, so its warp then un-warp
  moves frequencies by -0.65 bins at DC up to +3.7 bins (about 80 Hz) near Nyquist.

Both directions are linear interpolation along frequency only (two rows and a lerp per output
row), which is what bilinear ``grid_sample`` computes on this separable grid, at a fraction of
its cost. They work for any number of frames and any leading dimensions, keep autograd, and
follow the input's device and dtype.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from avpc_plugin.audio.stft import FREQ_BINS, WARPED_BINS

_LOG_BASE = 21.0  # the reference's warp: rows span 21 ** [0, 1], shifted to [-1, 1]

_Plan = tuple[Tensor, Tensor, Tensor]
"""Lower row index ``(R,)``, upper row index ``(R,)`` and upper weight ``(R, 1)``."""


def warped_row_positions(in_bins: int, out_rows: int) -> Tensor:
    """Fractional linear-frequency bin each warped row samples (float64, CPU).

    Args:
        in_bins: bins ``F`` of the linear spectrogram.
        out_rows: rows ``H`` of the warped spectrogram.

    Returns:
        ``(out_rows,)`` increasing bin coordinates ``p_r``, from -0.5 to ``in_bins - 0.5`` (not
        clamped).
    """
    y = torch.linspace(-1.0, 1.0, out_rows, dtype=torch.float64)
    g = (torch.pow(torch.tensor(_LOG_BASE, dtype=torch.float64), (y + 1) / 2) - 11) / 10
    return ((g + 1) * in_bins - 1) / 2


def linear_bin_positions(warped_rows: int, out_bins: int) -> Tensor:
    """Fractional warped row each linear-frequency bin sits at: the inverse of the warp map.

    The warp samples bin ``clamp(p_r, 0, F - 1)`` into row ``r`` (see
    :func:`warped_row_positions`); between two rows this inverts that map piecewise linearly, so
    un-warping a warped field that is linear in frequency gives it back exactly, and a bin that a
    row sampled gets exactly that row's value.

    Args:
        warped_rows: rows ``H`` of the warped spectrogram.
        out_bins: bins ``F`` of the linear spectrogram to rebuild.

    Returns:
        ``(out_bins,)`` float64 row coordinates in ``[0, H - 1]``, non-decreasing.
    """
    sampled = warped_row_positions(out_bins, warped_rows).clamp(0, out_bins - 1)
    q = torch.arange(out_bins, dtype=torch.float64)
    lower = (torch.searchsorted(sampled, q, right=True) - 1).clamp(0, warped_rows - 2)
    span = (sampled[lower + 1] - sampled[lower]).clamp_min(torch.finfo(torch.float64).tiny)
    frac = ((q - sampled[lower]) / span).clamp(0, 1)
    return lower.to(torch.float64) + frac


def _lerp_plan(positions: Tensor, size: int, device: torch.device, dtype: torch.dtype) -> _Plan:
    """Lower index, upper index and upper weight to interpolate ``size`` rows at ``positions``."""
    with torch.inference_mode(False):  # cached tensors must stay usable with autograd
        pos = positions.clamp(0, size - 1)
        lower = pos.floor().long().clamp(max=size - 1)
        upper = (lower + 1).clamp(max=size - 1)
        frac = (pos - lower).to(dtype)
        return lower.to(device), upper.to(device), frac.to(device).unsqueeze(-1)


@functools.lru_cache(maxsize=32)
def _warp_plan(in_bins: int, out_rows: int, device: torch.device, dtype: torch.dtype) -> _Plan:
    return _lerp_plan(warped_row_positions(in_bins, out_rows), in_bins, device, dtype)


@functools.lru_cache(maxsize=32)
def _unwarp_plan(
    warped_rows: int, out_bins: int, device: torch.device, dtype: torch.dtype
) -> _Plan:
    return _lerp_plan(linear_bin_positions(warped_rows, out_bins), warped_rows, device, dtype)


def _interpolate_rows(x: Tensor, plan: _Plan) -> Tensor:
    lower, upper, frac = plan
    below = x.index_select(-2, lower)
    above = x.index_select(-2, upper)
    return below + frac * (above - below)


def _check_spectrogram(name: str, x: Tensor) -> None:
    if x.dim() < 2 or not x.is_floating_point() or x.shape[-2] < 2:
        raise ValueError(
            f"{name}: expected a real floating-point tensor (..., bins >= 2, frames), "
            f"got dtype {x.dtype} with shape {tuple(x.shape)}"
        )


def warp_to_log_freq(mag: Tensor, out_bins: int = WARPED_BINS) -> Tensor:
    """Resample a linear-frequency spectrogram onto the log-frequency rows the nets use.

    Args:
        mag: real tensor ``(..., F, T)``, e.g. ``(B, C, 512, T)`` linear magnitudes (any real
            field: masks and log-magnitudes warp the same way).
        out_bins: rows ``H`` of the result.

    Returns:
        ``(..., out_bins, T)``, e.g. ``(B, C, 256, T)``, same device and dtype as ``mag``.
    """
    _check_spectrogram("mag", mag)
    if out_bins < 2:
        raise ValueError(f"out_bins: expected an int >= 2, got {out_bins!r}")
    return _interpolate_rows(mag, _warp_plan(mag.shape[-2], out_bins, mag.device, mag.dtype))


def unwarp_from_log_freq(x: Tensor, out_bins: int = FREQ_BINS) -> Tensor:
    """Bring a log-frequency spectrogram or mask back to linear frequency.

    Args:
        x: real tensor ``(..., H, T)``, e.g. ``(B, N, 256, T)`` masks.
        out_bins: bins ``F`` of the linear spectrogram (512 at the model rate).

    Returns:
        ``(..., out_bins, T)``, same device and dtype as ``x``. Linear interpolation between the
        two warped rows around each bin, so values stay within the range of ``x``.
    """
    _check_spectrogram("x", x)
    if out_bins < 2:
        raise ValueError(f"out_bins: expected an int >= 2, got {out_bins!r}")
    return _interpolate_rows(x, _unwarp_plan(x.shape[-2], out_bins, x.device, x.dtype))
