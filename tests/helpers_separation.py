"""Stand-in models for Separator tests: fixed or loudness-driven masks that record their frames."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from avpc_plugin.nets.registry import register_net


class ConstantMasks(nn.Module):
    """Answers fixed logits per source (30 -> mask exactly 1.0 in float32); records frames."""

    def __init__(self, logits: tuple[float, ...] = (30.0,)) -> None:
        super().__init__()
        self.logits = logits
        self.frames: list[Tensor] = []

    def visual_features(self, frames: Tensor) -> Tensor:
        self.frames.append(frames.clone())
        return frames.mean(dim=(2, 3, 4, 5))

    def masks_from_features(self, mix_mag: Tensor, features: Tensor, cycles: Any = None) -> Tensor:
        batch, sources = features.shape
        values = torch.tensor([self.logits[i % len(self.logits)] for i in range(sources)])
        return values.view(1, sources, 1, 1).expand(batch, sources, 256, 256).clone()


class LoudnessMasks(ConstantMasks):
    """A mask that varies over time and frequency: the mixture's own normalised log magnitude."""

    def masks_from_features(self, mix_mag: Tensor, features: Tensor, cycles: Any = None) -> Tensor:
        log_mag = torch.log(mix_mag + 1e-6)
        centred = log_mag - log_mag.mean(dim=(1, 2, 3), keepdim=True)  # per window
        return centred.expand(-1, features.shape[1], -1, -1)


@register_net("test-identity-separation")
class IdentitySeparation(nn.Module):
    """Mask logits of +30 everywhere (mask exactly 1.0): stems equal the input."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.config: dict[str, Any] = {}

    def visual_features(self, frames: Tensor) -> Tensor:
        return frames.mean(dim=(2, 3, 4, 5))

    def masks_from_features(self, mix_mag: Tensor, features: Tensor, cycles: Any = None) -> Tensor:
        return (30.0 * self.scale).expand(features.shape[0], features.shape[1], 256, 256)
