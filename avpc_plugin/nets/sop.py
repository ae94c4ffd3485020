"""The Sound-of-Pixels baseline (Zhao et al., ECCV 2018), registered as ``"sop"``.

The "divide-and-conquer" design AVPC argues against, shipped so every benchmark can put the two
side by side. Three parts:

* a U-Net sound net that turns the log magnitude of the mix into K feature channels,
  (B, 1, F, T) -> (B, K, F, T), run ONCE per mixture whatever the number of sources;
* a visual net that turns each source's frames into one K-vector: ResNet-18 trunk, 3 x 3 conv to K
  channels, max-pool over space and time, sigmoid -> (B, N, K) in (0, 1);
* a "synthesizer": per time-frequency bin, the dot product of the source's visual K-vector
  (scaled per channel by a learned vector) with the K sound channels, plus a learned bias. Its
  output is the mask LOGIT; the sigmoid is left to the loss / the caller, as for AVPC.

Facts checked against the authors' code (github.com/hangzhaomit/Sound-of-Pixels, MUSIC recipe:
``unet7``, ``resnet18dilated``, ``maxpool``, ``num_channels 32``, image activation sigmoid, sound
activation none, synthesizer ``linear``):

* U-Net up-steps are ReLU -> bilinear 2x upsampling (corners aligned) -> 3 x 3 conv (-> BN), not
  transposed convs. This is what their code does, and it is what gives "about 31 M" sound-net
  parameters at ngf 64 (30,274,210 here with K = 32); 4 x 4 transposed convs would give 41.9 M.
* Down-steps are 4 x 4 stride-2 convs without bias; LeakyReLU(0.2) before every down-step but the
  first, BN after every down-step but the first and the innermost; a BatchNorm on the input log
  magnitude; the skip is concatenated as [encoder feature, upsampled feature].
* Their weight init for the sound net: conv weights N(0, 0.001), BN weights N(1, 0.02), BN biases 0.
  Kept, so a fresh net starts with masks near sigmoid(0) = 0.5. The synthesizer starts at scale 1,
  bias 0.
* Their visual net dilates ResNet-18's last stage (14 x 14 maps). Here the plain trunk (7 x 7) is
  used: the map is max-pooled to one vector anyway, the trunk is shared with AVPC's visual net and
  a torchvision ResNet-18 weight file loads into both. The head is a 3 x 3 conv (bias, padding 1).
* Their optimizer trains the sound net, the synthesizer and the visual conv head at the sound
  learning rate (1e-3) and the trunk at the frame learning rate (1e-4); ``param_groups`` does too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from avpc_plugin.audio.stft import log_magnitude
from avpc_plugin.nets.layers import check_shape
from avpc_plugin.nets.registry import register_net
from avpc_plugin.nets.visual import (
    FRAME_SIZE,
    TRUNK_CHANNELS,
    check_trunk_input_size,
    resnet18_trunk,
    run_trunk,
)

LEAKY_SLOPE = 0.2
"""Negative slope of the LeakyReLU before each U-Net down-step."""

MAX_WIDTH_MULTIPLIER = 8
"""U-Net widths double per level from ngf up to ngf * 8, then stay there."""


class SoundOfPixelsUNet(nn.Module):
    """The Sound-of-Pixels U-Net: log magnitude (B, 1, F, T) -> K sound feature maps (B, K, F, T).

    ``levels`` down-steps each halve F and T, so both must be divisible by ``2 ** levels``
    (256 x 256 with the default 7 levels). Channel widths after each down-step:
    ngf, 2 ngf, 4 ngf, 8 ngf, 8 ngf, ... (capped at 8 ngf).
    """

    def __init__(self, ngf: int = 64, out_channels: int = 32, levels: int = 7) -> None:
        super().__init__()
        self.levels = levels
        widths = [ngf * min(2**level, MAX_WIDTH_MULTIPLIER) for level in range(levels)]
        innermost = levels - 1

        self.input_norm = nn.BatchNorm2d(1)
        down_steps = []
        for level in range(levels):
            layers: list[nn.Module] = []
            if level > 0:
                layers.append(nn.LeakyReLU(LEAKY_SLOPE))
            in_channels = 1 if level == 0 else widths[level - 1]
            layers.append(
                nn.Conv2d(
                    in_channels, widths[level], kernel_size=4, stride=2, padding=1, bias=False
                )
            )
            if 0 < level < innermost:
                layers.append(nn.BatchNorm2d(widths[level]))
            down_steps.append(nn.Sequential(*layers))
        self.down_steps = nn.ModuleList(down_steps)

        # up_steps[level] undoes down_steps[level]: its input is the innermost code, or the
        # concatenation [encoder skip, upsampled feature] (twice the level's width) further out.
        up_steps = []
        for level in range(levels):
            outermost = level == 0
            in_channels = widths[level] if level == innermost else 2 * widths[level]
            out = out_channels if outermost else widths[level - 1]
            layers = [
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                nn.Conv2d(in_channels, out, kernel_size=3, padding=1, bias=outermost),
            ]
            if not outermost:
                layers.append(nn.BatchNorm2d(out))
            up_steps.append(nn.Sequential(*layers))
        self.up_steps = nn.ModuleList(up_steps)

        self.apply(_init_like_sound_of_pixels)

    def forward(self, log_mag: Tensor) -> Tensor:
        """(B, 1, F, T) log magnitude -> (B, K, F, T) sound features (no activation)."""
        skips = []
        x = self.input_norm(log_mag)
        for down in self.down_steps:
            x = down(x)
            skips.append(x)
        y = self.up_steps[-1](skips[-1])
        for level in range(self.levels - 2, -1, -1):
            y = self.up_steps[level](torch.cat([skips[level], y], dim=1))
        return y


def _init_like_sound_of_pixels(module: nn.Module) -> None:
    """The Sound-of-Pixels sound-net init: conv N(0, 0.001); BN weight N(1, 0.02), bias 0."""
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.001)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class SoundOfPixelsVisualNet(nn.Module):
    """Frames of M sources (M, 3, T, H, W) -> one K-vector per source (M, K), values in (0, 1).

    ResNet-18 trunk per frame -> 3 x 3 conv to K channels -> max over time and space -> sigmoid.
    A frozen trunk gets no gradients and stays in eval mode (its BatchNorm statistics are fixed).
    """

    def __init__(
        self,
        feature_channels: int = 32,
        trunk_weights: str | Path | None = None,
        freeze_trunk: bool = False,
        trunk_input_size: int = FRAME_SIZE,
    ) -> None:
        super().__init__()
        self.freeze_trunk = freeze_trunk
        self.trunk_input_size = check_trunk_input_size(trunk_input_size)
        self.trunk = resnet18_trunk(trunk_weights, freeze=freeze_trunk)
        self.head = nn.Conv2d(TRUNK_CHANNELS, feature_channels, kernel_size=3, padding=1)

    def train(self, mode: bool = True) -> SoundOfPixelsVisualNet:
        super().train(mode)
        if self.freeze_trunk:
            self.trunk.eval()
        return self

    def forward(self, frames: Tensor) -> Tensor:
        """(M, 3, T, H, W) ImageNet-normalised frames -> (M, K) visual features in (0, 1)."""
        sources, channels, times, height, width = frames.shape
        images = frames.transpose(1, 2).reshape(sources * times, channels, height, width)
        trunk_maps = run_trunk(self.trunk, images, self.trunk_input_size, self.freeze_trunk)
        maps = self.head(trunk_maps)  # (M * T, K, h, w)
        pooled = maps.reshape(sources, times, maps.shape[1], -1).amax(dim=(1, 3))
        return torch.sigmoid(pooled)


class DotProductSynthesizer(nn.Module):
    """Mask logits from visual vectors and sound features: a scaled dot product plus a bias.

    ``logit[b, n, f, t] = sum_k scale[k] * visual[b, n, k] * sound[b, k, f, t] + bias``.
    """

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, visual: Tensor, sound: Tensor) -> Tensor:
        """visual (B, N, K), sound (B, K, F, T) -> mask logits (B, N, F, T)."""
        return torch.einsum("bnk,bkft->bnft", visual * self.scale, sound) + self.bias


@register_net("sop")
class SoundOfPixels(nn.Module):
    """Sound-of-Pixels separation model with the same interface as AVPC.

    Args:
        ngf: base width of the U-Net (64 in the paper).
        feature_channels: K, the number of sound channels / visual vector size (32 in the paper).
        unet_levels: number of U-Net down-steps (7 in the paper); F and T of the input must be
            divisible by ``2 ** unet_levels``.
        trunk_weights: optional path to a torchvision ResNet-18 state dict; ``None`` keeps the
            random init. Nothing is downloaded.
        freeze_trunk: freeze the ResNet-18 trunk (Sound-of-Pixels fine-tunes it: default False).
        trunk_input_size: side (px) the frames are resized to before the trunk, in [32, 224]
            (as AVPC's ``visual.trunk_input_size``; 224, the paper, keeps them as they are).

    ``self.config`` records ``trunk_weights`` as ``None``: the file only initialises the trunk
    and the state dict carries its weights, so a checkpoint rebuilds on machines without it.
    ``trunk_input_size`` is recorded only when it differs from 224.
    """

    def __init__(
        self,
        ngf: int = 64,
        feature_channels: int = 32,
        unet_levels: int = 7,
        trunk_weights: str | Path | None = None,
        freeze_trunk: bool = False,
        trunk_input_size: int = FRAME_SIZE,
    ) -> None:
        super().__init__()
        for key, value in (
            ("ngf", ngf),
            ("feature_channels", feature_channels),
            ("unet_levels", unet_levels),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"sop config {key!r}: expected a positive int, got {value!r}")
        self.config: dict[str, Any] = {
            "ngf": ngf,
            "feature_channels": feature_channels,
            "unet_levels": unet_levels,
            "trunk_weights": None,
            "freeze_trunk": bool(freeze_trunk),
        }
        if trunk_input_size != FRAME_SIZE:
            self.config["trunk_input_size"] = trunk_input_size
        self.sound_net = SoundOfPixelsUNet(ngf, feature_channels, unet_levels)
        self.visual_net = SoundOfPixelsVisualNet(
            feature_channels, trunk_weights, freeze_trunk, trunk_input_size
        )
        self.synthesizer = DotProductSynthesizer(feature_channels)

    @property
    def feature_channels(self) -> int:
        """K, the size of a source's visual vector and the number of sound channels."""
        return int(self.config["feature_channels"])

    def visual_features(self, frames: Tensor) -> Tensor:
        """Per-source visual vectors: frames (B, N, 3, T, H, W) -> (B, N, K) in (0, 1)."""
        _check_frames(frames)
        batch, sources = frames.shape[:2]
        vectors = self.visual_net(frames.flatten(0, 1))
        return vectors.reshape(batch, sources, -1)

    def masks_from_features(
        self, mix_mag: Tensor, features: Tensor, cycles: int | None = None
    ) -> Tensor:
        """Mask logits for every source from the mix and cached visual features.

        Args:
            mix_mag: (B, 1, F, T) linear magnitude of the mix, log-frequency warped
                (256 x 256 at model rate); its log (``log_magnitude``) is taken here, as in AVPC.
            features: (B, N, K) from :meth:`visual_features`.
            cycles: ignored (PCNet's test-time cycle count; Sound-of-Pixels has no cycles).

        Returns:
            (B, N, F, T) mask logits (pre-sigmoid). The U-Net runs once per mixture.
        """
        self._check_mix(mix_mag)
        check_shape(features, "features", ("B", "N", self.feature_channels))
        if features.shape[0] != mix_mag.shape[0]:
            raise ValueError(
                f"features: batch {features.shape[0]} differs from mix_mag's {mix_mag.shape[0]}"
            )
        sound = self.sound_net(log_magnitude(mix_mag))
        return self.synthesizer(features, sound)

    def forward(self, mix_mag: Tensor, frames: Tensor, cycles: int | None = None) -> Tensor:
        """mix_mag (B, 1, F, T), frames (B, N, 3, T', H, W) -> mask logits (B, N, F, T)."""
        self._check_mix(mix_mag)
        _check_frames(frames)
        if frames.shape[0] != mix_mag.shape[0]:
            raise ValueError(
                f"frames: batch {frames.shape[0]} differs from mix_mag's {mix_mag.shape[0]}"
            )
        return self.masks_from_features(mix_mag, self.visual_features(frames), cycles)

    def param_groups(self, lr_sound: float, lr_visual: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups in the Sound-of-Pixels recipe.

        The sound net, the synthesizer and the visual conv head learn at ``lr_sound`` (as in
        Sound-of-Pixels' code); the ResNet-18 trunk at ``lr_visual``, and only if not frozen.
        Every group has a ``name`` ("sound", "visual_head", "visual_trunk").
        """
        groups: list[dict[str, Any]] = [
            {
                "name": "sound",
                "params": [*self.sound_net.parameters(), *self.synthesizer.parameters()],
                "lr": lr_sound,
            },
            {
                "name": "visual_head",
                "params": list(self.visual_net.head.parameters()),
                "lr": lr_sound,
            },
        ]
        trunk = [p for p in self.visual_net.trunk.parameters() if p.requires_grad]
        if trunk:
            groups.append({"name": "visual_trunk", "params": trunk, "lr": lr_visual})
        return groups

    def _check_mix(self, mix_mag: Tensor) -> None:
        step = 2 ** int(self.config["unet_levels"])
        if (
            mix_mag.dim() != 4
            or mix_mag.shape[1] != 1
            or mix_mag.shape[2] % step
            or mix_mag.shape[3] % step
            or mix_mag.shape[2] == 0
            or mix_mag.shape[3] == 0
        ):
            raise ValueError(
                f"mix_mag: expected a (B, 1, F, T) magnitude with F and T positive multiples of "
                f"{step} (2 ** unet_levels; 256 x 256 at model rate), got shape "
                f"{tuple(mix_mag.shape)}"
            )


def _check_frames(frames: Tensor) -> None:
    check_shape(frames, "frames", ("B", "N", 3, "T", "H", "W"))
