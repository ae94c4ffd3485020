"""Visual analysis nets: a ResNet-18 trunk and heads that turn frames into feature maps."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from avpc_plugin.nets.layers import check_shape, leaky_relu_
from avpc_plugin.nets.registry import register_net

TRUNK_CHANNELS = 512
"""Channels of the ResNet-18 trunk output (512 x 7 x 7 for a 224 x 224 frame)."""

TRUNK_MAP_SIZE = 7
"""Side of the ResNet-18 trunk output map for a 224 x 224 frame (the head's input)."""

MIN_TRUNK_INPUT_SIZE = 32
"""Smallest trunk input side: the trunk downsamples 32x, so 32 px already gives a 1 x 1 map."""


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
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (EOFError, RuntimeError, pickle.UnpicklingError) as err:
            reason = str(err) or "the file ends early"
            raise ValueError(
                f"visual trunk weights {path}: not a readable torch state dict file ({reason})"
            ) from err
        if not isinstance(state, dict):
            raise ValueError(
                f"visual trunk weights {path}: expected a state dict, got {type(state).__name__}"
            )
        missing, _unexpected = resnet.load_state_dict(state, strict=False)
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


TRUNK_LAYER_NAMES = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
"""torchvision ResNet-18 child names of the trunk's Sequential indices 0..7."""


def trunk_state_to_torchvision(
    state_dict: Mapping[str, Tensor], prefix: str = "visual_net.trunk."
) -> dict[str, Tensor]:
    """The trunk tensors of a net's state dict renamed as a torchvision ResNet-18 state dict.

    The result is the file format ``resnet18_trunk(weights=...)`` (``trunk_weights``) reads, so a
    trunk trained in one net (e.g. by the "visual" pre-training stage) can start another one.

    Args:
        state_dict: a state dict holding ``<prefix><index>.<rest>`` trunk keys.
        prefix: where the trunk sits in it (``"visual_net.trunk."`` for "avpc" and "sop").

    Raises:
        ValueError: no trunk key under ``prefix``.
    """
    renamed = {}
    for key, tensor in state_dict.items():
        if key.startswith(prefix):
            index, rest = key[len(prefix) :].split(".", 1)
            renamed[f"{TRUNK_LAYER_NAMES[int(index)]}.{rest}"] = tensor
    if not renamed:
        raise ValueError(f"state dict: no visual trunk keys under {prefix!r}")
    return renamed


HEAD_KERNELS = {1: 7, 2: 6, 4: 4, 7: 1}
"""Kernel of the head conv on the 7 x 7 trunk map for each output map side k (7 - kernel + 1)."""

FRAME_SIZE = 224
"""Side (pixels) of the square RGB frames the visual net takes."""


def check_trunk_input_size(size: Any) -> int:
    """Return ``size`` if it is a valid trunk input side (an int in [32, 224]); else ValueError."""
    if (
        not isinstance(size, int)
        or isinstance(size, bool)
        or not (MIN_TRUNK_INPUT_SIZE <= size <= FRAME_SIZE)
    ):
        raise ValueError(
            f"trunk_input_size: expected an int in [{MIN_TRUNK_INPUT_SIZE}, {FRAME_SIZE}], "
            f"got {size!r}"
        )
    return size


def check_square_frames(frames: Tensor, layout: tuple[int | str, ...]) -> None:
    """Raise a ValueError unless ``frames`` has ``layout`` with square frames (the last two
    sizes equal)."""
    check_shape(frames, "frames", layout)
    if frames.shape[-1] != frames.shape[-2]:
        raise ValueError(f"frames: expected square frames, got {tuple(frames.shape)}")


def run_trunk(trunk: nn.Module, images: Tensor, input_size: int, frozen: bool) -> Tensor:
    """Trunk maps of frames seen at ``input_size`` px: (N, 3, 224, 224) -> (N, 512, s, s).

    ``s`` is ``ceil(input_size / 32)`` (7 at 224). Below 224 the frames are first resized
    (bilinear, antialiased), which makes the trunk about ``(input_size / 224) ** 2`` as costly.
    A ``frozen`` trunk runs without autograd.
    """
    if images.shape[-2:] != (input_size, input_size):
        size = (input_size, input_size)
        images = F.interpolate(images, size, mode="bilinear", antialias=True)
    images = images.contiguous(memory_format=torch.channels_last)
    with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
        return trunk(images)


@register_net("visual")
class VisualNet(nn.Module):
    """ResNet-18 trunk and a conv head: T frames of a source -> one (C, k, k) feature map.

    Each frame goes through the trunk (512 x 7 x 7) and the head (k x k conv without padding,
    BatchNorm, leaky ReLU 0.2); the per-frame maps are averaged over time (the reference
    ``ResNetFC.forward_multiframe``).

    Args:
        map_size: side ``k`` of the output map, one of 1, 2 (paper), 4, 7.
        visual_channels: channels ``C`` of the output map (16 in the paper).
        trunk_weights: optional path to torchvision ResNet-18 weights that initialise the trunk.
        freeze_trunk: keep the trunk fixed (the paper's frozen ImageNet trunk): no gradients,
            and its BatchNorm layers stay in eval mode even while the net trains.
        trunk_input_size: side (px) the 224 x 224 frames are resized to (bilinear, antialiased)
            before the trunk, in [32, 224]. Below 224 the trunk costs about
            ``(size / 224) ** 2`` as much (a 4x cheaper trunk at 112 px, for small CPU models);
            its smaller map is average-pooled back to 7 x 7 so the head and its parameters are
            unchanged. 224 (the paper) runs the trunk on the frames as they are.

    ``self.config`` records ``trunk_weights`` as ``None``: the file only initialises the trunk,
    the state dict carries its weights, and a checkpoint must rebuild on machines without that
    file. The path used is kept in ``self.trunk_weights``. ``trunk_input_size`` is recorded only
    when it differs from 224, so the configs of paper-setting nets (and of converted reference
    checkpoints) keep their four keys.
    """

    def __init__(
        self,
        map_size: int = 2,
        visual_channels: int = 16,
        trunk_weights: str | Path | None = None,
        freeze_trunk: bool = False,
        trunk_input_size: int = FRAME_SIZE,
    ) -> None:
        super().__init__()
        if map_size not in HEAD_KERNELS:
            raise ValueError(f"map_size: expected one of {sorted(HEAD_KERNELS)}, got {map_size!r}")
        if (
            not isinstance(visual_channels, int)
            or isinstance(visual_channels, bool)
            or visual_channels < 1
        ):
            raise ValueError(f"visual_channels: expected a positive int, got {visual_channels!r}")
        check_trunk_input_size(trunk_input_size)
        self.config: dict[str, Any] = {
            "map_size": map_size,
            "visual_channels": visual_channels,
            "trunk_weights": None,
            "freeze_trunk": bool(freeze_trunk),
        }
        if trunk_input_size != FRAME_SIZE:
            self.config["trunk_input_size"] = trunk_input_size
        self.trunk_input_size = trunk_input_size
        self.trunk_weights = None if trunk_weights is None else str(trunk_weights)
        self.map_size = map_size
        self.visual_channels = visual_channels
        self.freeze_trunk = bool(freeze_trunk)
        self.trunk = resnet18_trunk(trunk_weights, freeze=self.freeze_trunk)
        self.head_conv = nn.Conv2d(
            TRUNK_CHANNELS, visual_channels, kernel_size=HEAD_KERNELS[map_size]
        )
        self.head_norm = nn.BatchNorm2d(visual_channels)
        if self.freeze_trunk:
            self.trunk.eval()

    def train(self, mode: bool = True) -> VisualNet:
        """Set training mode; a frozen trunk always stays in eval mode."""
        super().train(mode)
        if self.freeze_trunk:
            self.trunk.eval()
        return self

    def forward(self, frames: Tensor) -> Tensor:
        """(B, 3, T, S, S) ImageNet-normalised RGB frames -> (B, C, k, k) time-averaged map.

        ``S`` is 224 at inference; training may stage smaller frames (``[data] image_size``),
        resized like any frame to ``trunk_input_size`` before the trunk."""
        check_square_frames(frames, ("B", 3, "T", "S", "S"))
        batch, _, num_frames, height, width = frames.shape
        images = frames.transpose(1, 2).reshape(batch * num_frames, 3, height, width)
        trunk_maps = run_trunk(self.trunk, images, self.trunk_input_size, self.freeze_trunk)
        if self.trunk_input_size != FRAME_SIZE:
            trunk_maps = F.adaptive_avg_pool2d(trunk_maps, TRUNK_MAP_SIZE)
        maps = leaky_relu_(self.head_norm(self.head_conv(trunk_maps)))
        return maps.reshape(batch, num_frames, *maps.shape[1:]).mean(dim=1).contiguous()
