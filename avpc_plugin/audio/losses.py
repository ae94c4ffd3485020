"""Mask losses, weighted per time-frequency bin by the mixture's loudness.

Reduction follows the reference code's ``BCELoss`` / ``L1Loss`` / ``L2Loss``: the weighted
per-bin loss is averaged over *every* element (batch, sources, bins, frames). The weights are not
renormalised to sum to one, so the loss scale depends on the mixture's level exactly as in the
reference. (The reference averages per source and then over sources; with equal-sized sources
that is the same number.)
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

WEIGHT_MIN = 1e-3
"""Lower clamp of the per-bin loss weight."""
WEIGHT_MAX = 10.0
"""Upper clamp of the per-bin loss weight."""


def mask_loss_weight(mix_mag: Tensor, low: float = WEIGHT_MIN, high: float = WEIGHT_MAX) -> Tensor:
    """Per-bin loss weight ``clamp(log1p(mix_mag), low, high)``.

    Args:
        mix_mag: linear mixture magnitude ``(B, 1, F, T)`` (warped in training), unnormalised STFT
            scale.
        low, high: clamp bounds (the reference's 1e-3 and 10).

    Returns:
        Weights of ``mix_mag``'s shape and dtype, without gradient (a weight, not a target to
        learn).
    """
    return torch.log1p(mix_mag.detach()).clamp(low, high)


def _check_pair(pred_name: str, pred: Tensor, target: Tensor, weight: Tensor | None) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"target: expected the shape of {pred_name} {tuple(pred.shape)}, "
            f"got {tuple(target.shape)}"
        )
    if weight is not None:
        try:
            if torch.broadcast_shapes(weight.shape, pred.shape) != pred.shape:
                raise RuntimeError
        except RuntimeError as err:
            raise ValueError(
                f"weight: shape {tuple(weight.shape)} does not broadcast to {pred_name}'s "
                f"{tuple(pred.shape)} (expected e.g. (B, 1, F, T) for (B, N, F, T))"
            ) from err


def weighted_bce_with_logits(
    logits: Tensor, target: Tensor, weight: Tensor | None = None
) -> Tensor:
    """Weighted binary cross-entropy on mask logits, averaged over all elements.

    ``mean(weight * BCE(sigmoid(logits), target))``, computed from the logits in the numerically
    stable form (the reference applies ``sigmoid`` and then ``F.binary_cross_entropy``, which
    clamps ``log`` at -100; the two agree wherever that clamp is inactive, ``|logit| < ~100``).

    Args:
        logits: mask logits ``(B, N, F, T)`` (pre-sigmoid).
        target: mask targets in ``[0, 1]``, same shape.
        weight: per-bin weights broadcastable to ``logits``, e.g. ``(B, 1, F, T)`` from
            :func:`mask_loss_weight`; ``None`` weighs every bin 1.

    Returns:
        Scalar tensor (nats per bin).
    """
    _check_pair("logits", logits, target, weight)
    return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), weight=weight)


def weighted_ratio_loss(
    pred: Tensor, target: Tensor, weight: Tensor | None = None, p: Literal[1, 2] = 1
) -> Tensor:
    """Weighted L1 (``p=1``) or L2 (``p=2``) loss between ratio masks, averaged over all elements.

    Args:
        pred: predicted ratio masks ``(B, N, F, T)`` (after the output activation).
        target: ratio targets, same shape (see :func:`~avpc_plugin.audio.masks.ratio_mask_target`).
        weight: per-bin weights broadcastable to ``pred``; ``None`` weighs every bin 1.
        p: 1 for ``mean(weight * |pred - target|)``, 2 for ``mean(weight * (pred - target)^2)``.

    Returns:
        Scalar tensor.
    """
    _check_pair("pred", pred, target, weight)
    if p not in (1, 2):
        raise ValueError(f"p: expected 1 (L1) or 2 (L2), got {p!r}")
    diff = pred - target
    error = diff.abs() if p == 1 else diff.square()
    return error.mean() if weight is None else (weight * error).mean()
