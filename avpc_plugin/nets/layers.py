"""Small building blocks shared by the AVPC nets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEAK = 0.2
"""Negative slope of every leaky ReLU in AVPC."""


def leaky_relu_(x: Tensor) -> Tensor:
    """Leaky ReLU with AVPC's slope ``LEAK``, in place (autograd-safe for a positive slope).

    Apply it only to a fresh intermediate (a conv, norm or blend output) that nothing else reads.
    """
    return F.leaky_relu(x, LEAK, inplace=True)


class ConvPool(nn.Module):
    """3x3 conv (no bias, size kept) then 2x2 max-pool: (B, Cin, H, W) -> (B, Cout, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(self.conv(x), kernel_size=2)


class UpsampleConvT(nn.Module):
    """2x bilinear upsampling (corners aligned) then a 3x3 transposed conv (no bias, size kept):
    (B, Cin, H, W) -> (B, Cout, 2H, 2W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(
            in_channels, out_channels, kernel_size=3, padding=1, bias=False
        )

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
        return self.conv(x)


def check_shape(tensor: Tensor, name: str, expected: Sequence[int | str]) -> None:
    """Raise a ValueError naming ``name`` unless ``tensor`` has the ``expected`` shape.

    Integer entries must match exactly; string entries (``"B"``, ``"T"``) name free sizes.
    """
    shape = tuple(tensor.shape)
    fits = len(shape) == len(expected) and all(
        isinstance(want, str) or size == want for size, want in zip(shape, expected, strict=True)
    )
    if not fits:
        raise ValueError(f"{name}: expected shape ({', '.join(map(str, expected))}), got {shape}")


def to_channels_last(x: Tensor) -> Tensor:
    """``x`` (B, C, H, W) laid out channels-last, even when C == 1.

    ``x.contiguous(memory_format=torch.channels_last)`` leaves a one-channel NCHW tensor as it
    is (both layouts are "contiguous" then), so the ops that follow would keep NCHW; this copy
    gets explicit channels-last strides, which convolutions then propagate.
    """
    return torch.empty_like(x, memory_format=torch.channels_last).copy_(x)
