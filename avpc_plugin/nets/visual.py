"""Visual analysis nets: a ResNet-18 trunk and heads that turn frames into feature maps."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

TRUNK_CHANNELS = 512
"""Channels of the ResNet-18 trunk output (512 x 7 x 7 for a 224 x 224 frame)."""


def resnet18_trunk(weights: str | Path | None = None, freeze: bool = False) -> nn.Sequential:
    """ResNet-18 without its average pool and classifier: (B, 3, 224, 224) -> (B, 512, 7, 7).

    Args:
        weights: optional path to a torchvision ResNet-18 state dict (e.g. the ImageNet file
            ``resnet18-f37072fd.pth``); ``None`` keeps the random initialisation. Nothing is
            downloaded.
        freeze: stop gradients to the trunk's parameters (the paper's frozen pretrained trunk).
    """
    resnet = torchvision.models.resnet18(weights=None)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"visual trunk weights: no file at {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, unexpected = resnet.load_state_dict(state, strict=False)
        trunk_missing = [k for k in missing if not k.startswith("fc.")]
        if trunk_missing:
            raise ValueError(
                f"visual trunk weights {path}: not a torchvision ResNet-18 state dict "
                f"(missing {trunk_missing[:3]}...)"
            )
    trunk = nn.Sequential(*list(resnet.children())[:-2])
    if freeze:
        for param in trunk.parameters():
            param.requires_grad_(False)
    return trunk
