"""Tiny networks registered for tests that need a real registered net but not a real model."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from avpc_plugin.nets.registry import register_net

TINY_LINEAR = "test-tiny-linear"


@register_net(TINY_LINEAR)
class TinyLinear(nn.Module):
    """(B, features) -> (B, 2): features * 2 + 2 parameters."""

    def __init__(self, features: int = 4) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"features": features}
        self.linear = nn.Linear(features, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)
