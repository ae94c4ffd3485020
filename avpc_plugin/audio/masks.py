"""Spectrogram masks: training targets, ideal (oracle) masks and applying a mask to a mixture.

All masks are real, unitless and per time-frequency bin. Training targets follow the reference
code: they are computed on the *log-frequency-warped* magnitudes (the net's output grid), source
by source against the mixture. Shapes use ``B`` batch, ``N`` sources, ``F`` bins, ``T`` frames.
"""

from __future__ import annotations

import torch
from torch import Tensor

MIX_FLOOR = 1e-10
"""Added to the mixture magnitude before dividing (the reference adds it to ``mag_mix``)."""


def _check_source_and_mix(src_mag: Tensor, mix_mag: Tensor) -> None:
    if src_mag.dim() < 2 or mix_mag.dim() != src_mag.dim():
        raise ValueError(
            f"src_mag, mix_mag: expected tensors of equal rank (..., F, T), e.g. (B, N, F, T) and "
            f"(B, 1, F, T); got shapes {tuple(src_mag.shape)} and {tuple(mix_mag.shape)}"
        )
    try:
        torch.broadcast_shapes(src_mag.shape, mix_mag.shape)
    except RuntimeError as err:
        raise ValueError(
            f"mix_mag: shape {tuple(mix_mag.shape)} does not broadcast against src_mag "
            f"{tuple(src_mag.shape)} (expected e.g. (B, 1, F, T) for (B, N, F, T))"
        ) from err


def binary_mask_target(src_mag: Tensor, mix_mag: Tensor, threshold: float = 0.5) -> Tensor:
    """Binary target: 1 where a source is louder than ``threshold`` times the mixture.

    Args:
        src_mag: source magnitudes ``(B, N, F, T)`` (linear; warped in training).
        mix_mag: mixture magnitude ``(B, 1, F, T)``, broadcast over the sources.
        threshold: fraction of the mixture magnitude; the reference uses 0.5.

    Returns:
        ``(B, N, F, T)`` of 0.0 / 1.0 in ``src_mag``'s dtype; silent bins (both 0) are 0.
    """
    _check_source_and_mix(src_mag, mix_mag)
    return (src_mag > threshold * mix_mag).to(src_mag.dtype)


def ratio_mask_target(
    src_mag: Tensor, mix_mag: Tensor, max_ratio: float = 5.0, floor: float = MIX_FLOOR
) -> Tensor:
    """Ratio target ``src / (mix + floor)`` clamped to ``[0, max_ratio]``.

    Args:
        src_mag: source magnitudes ``(B, N, F, T)``.
        mix_mag: mixture magnitude ``(B, 1, F, T)``.
        max_ratio: upper clamp (the reference uses 5; a source can exceed the mixture where
            sources cancel).
        floor: added to the mixture so silent bins give 0, not NaN.

    Returns:
        ``(B, N, F, T)`` in ``src_mag``'s dtype.
    """
    _check_source_and_mix(src_mag, mix_mag)
    return (src_mag / (mix_mag + floor)).clamp(0.0, max_ratio)


def _check_sources(src_mags: Tensor) -> None:
    if src_mags.dim() < 3 or src_mags.shape[-3] < 1:
        raise ValueError(
            f"src_mags: expected source magnitudes (..., N, F, T) with N >= 1, "
            f"got shape {tuple(src_mags.shape)}"
        )


def ideal_binary_mask(src_mags: Tensor) -> Tensor:
    """Oracle binary mask: every bin goes entirely to the loudest source.

    Args:
        src_mags: magnitudes of all sources ``(B, N, F, T)`` (linear frequency for an
            evaluation ceiling).

    Returns:
        ``(B, N, F, T)`` one-hot over ``N`` (masks sum to 1 in every bin); ties, including
        all-silent bins, go to the lowest source index.
    """
    _check_sources(src_mags)
    loudest = src_mags.argmax(dim=-3, keepdim=True)
    return torch.zeros_like(src_mags).scatter_(-3, loudest, 1.0)


def ideal_ratio_mask(src_mags: Tensor) -> Tensor:
    """Oracle ratio mask: each source's share of the summed source magnitudes.

    Args:
        src_mags: non-negative magnitudes of all sources ``(B, N, F, T)``.

    Returns:
        ``(B, N, F, T)`` in ``[0, 1]`` summing to 1 over ``N`` in every bin; all-silent bins are
        split evenly (``1 / N``).
    """
    _check_sources(src_mags)
    total = src_mags.sum(dim=-3, keepdim=True)
    share = src_mags / total.clamp_min(torch.finfo(src_mags.dtype).tiny)
    return torch.where(total > 0, share, torch.full_like(share, 1.0 / src_mags.shape[-3]))


def apply_mask(mix_spec: Tensor, mask: Tensor) -> Tensor:
    """Scale a complex mixture spectrogram by a real mask, keeping the mixture's phase.

    Args:
        mix_spec: complex ``(..., F, T)``; for per-source masks ``(B, N, F, T)`` pass the
            ``(B, F, T)`` mixture as ``mix_spec[:, None]`` so it broadcasts over sources.
        mask: real ``(..., F, T)`` broadcastable with ``mix_spec`` (cast to its real dtype).

    Returns:
        Complex tensor of the broadcast shape: ``mask * |X| * exp(i angle(X))``.
    """
    if not mix_spec.is_complex():
        raise ValueError(f"mix_spec: expected a complex spectrogram, got dtype {mix_spec.dtype}")
    if mask.is_complex() or mask.shape[-2:] != mix_spec.shape[-2:]:
        raise ValueError(
            f"mask: expected a real tensor (..., F, T) matching mix_spec's bins and frames "
            f"{tuple(mix_spec.shape[-2:])}, got dtype {mask.dtype} shape {tuple(mask.shape)}"
        )
    return mix_spec * mask.to(mix_spec.real.dtype)
