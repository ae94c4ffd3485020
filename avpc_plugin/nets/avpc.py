"""AVPC: the top-level audio-visual separation model (visual net + PCNet sound net).

Shares its interface with the Sound-of-Pixels baseline so training, evaluation and the Separator
are model-agnostic:

* ``visual_features(frames)``: (B, N, 3, T, 224, 224) -> (B, N, C, k, k), one time-averaged
  visual map per source (cacheable);
* ``masks_from_features(mix_mag, features, cycles)``: -> (B, N, 256, 256) mask logits;
* ``forward(mix_mag, frames, cycles)`` = both in turn.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from avpc_plugin.audio.stft import log_magnitude
from avpc_plugin.nets.layers import check_shape
from avpc_plugin.nets.pcnet import PCNet
from avpc_plugin.nets.registry import register_net
from avpc_plugin.nets.visual import VisualNet, check_square_frames


@register_net("avpc")
class AVPC(nn.Module):
    """Audio-Visual Predictive Coding separation model.

    Args:
        visual: keyword config of :class:`~avpc_plugin.nets.visual.VisualNet` (``map_size``,
            ``visual_channels``, ``trunk_weights``, ``freeze_trunk``, ``trunk_input_size``);
            defaults give the paper's 16 x 2 x 2 map from 224 x 224 frames.
        sound: keyword config of :class:`~avpc_plugin.nets.pcnet.PCNet` (``ngf``,
            ``train_cycles``, ``out_channels`` = 1); defaults give the paper's ngf 64 and 4 cycles.
            ``visual_channels`` and ``visual_map_size`` follow the visual net and may be left
            out (given, they must agree with it).

    ``self.config`` holds both sub-configs in full, so ``AVPC(**model.config)`` rebuilds it.
    """

    def __init__(
        self, visual: dict[str, Any] | None = None, sound: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        visual_config = dict(visual or {})
        sound_config = dict(sound or {})
        try:
            self.visual_net = VisualNet(**visual_config)
        except TypeError as err:
            raise TypeError(f"visual config {sorted(visual_config)}: {err}") from err
        for key, value in (
            ("visual_channels", self.visual_net.visual_channels),
            ("visual_map_size", self.visual_net.map_size),
        ):
            given = sound_config.setdefault(key, value)
            if given != value:
                raise ValueError(
                    f"sound config: {key} is {given!r} but the visual net gives {value!r}"
                )
        try:
            self.sound_net = PCNet(**sound_config)
        except TypeError as err:
            raise TypeError(f"sound config {sorted(sound_config)}: {err}") from err
        if self.sound_net.config["out_channels"] != 1:
            raise ValueError("sound config: out_channels must be 1 (one mask per source)")
        self.config: dict[str, Any] = {
            "visual": dict(self.visual_net.config),
            "sound": dict(self.sound_net.config),
        }

    def visual_features(self, frames: Tensor) -> Tensor:
        """Per-source visual maps.

        Args:
            frames: (B, N, 3, T, S, S) ImageNet-normalised RGB frames, T per source (S = 224
                at inference; training may stage them smaller).

        Returns:
            (B, N, C, k, k) visual feature maps, averaged over the T frames.
        """
        check_square_frames(frames, ("B", "N", 3, "T", "S", "S"))
        batch, sources = frames.shape[:2]
        maps = self.visual_net(frames.flatten(0, 1))
        return maps.unflatten(0, (batch, sources))

    def masks_from_features(
        self, mix_mag: Tensor, features: Tensor, cycles: int | None = None
    ) -> Tensor:
        """Mask logits for every source of every mixture.

        Args:
            mix_mag: (B, 1, 256, 256) log-frequency-warped linear magnitude of the mixtures.
            features: (B, N, C, k, k) visual maps from :meth:`visual_features`.
            cycles: PCNet recurrent cycles; ``None`` runs the trained number.

        Returns:
            (B, N, 256, 256) mask logits (pre-sigmoid).
        """
        side = self.sound_net.input_size
        check_shape(mix_mag, "mix_mag", ("B", 1, side, side))
        channels, k = self.sound_net.visual_channels, self.sound_net.visual_map_size
        check_shape(features, "features", ("B", "N", channels, k, k))
        if features.shape[0] != mix_mag.shape[0]:
            raise ValueError(
                f"features: batch {features.shape[0]} differs from mix_mag's {mix_mag.shape[0]}"
            )
        batch, sources = features.shape[:2]
        log_mag = log_magnitude(mix_mag)
        # the N sources of a mixture are consecutive items; PCNet shares the mixture between them
        logits = self.sound_net(log_mag, features.flatten(0, 1), cycles)
        return logits.reshape(batch, sources, side, side)

    def forward(self, mix_mag: Tensor, frames: Tensor, cycles: int | None = None) -> Tensor:
        """(B, 1, 256, 256) mix magnitude and (B, N, 3, T, 224, 224) frames -> (B, N, 256, 256)
        mask logits; ``cycles`` as in :meth:`masks_from_features`."""
        if frames.shape[:1] != mix_mag.shape[:1]:
            raise ValueError(
                f"frames: batch {frames.shape[:1]} differs from mix_mag's {mix_mag.shape[:1]}"
            )
        return self.masks_from_features(mix_mag, self.visual_features(frames), cycles)

    def param_groups(self, lr_sound: float, lr_visual: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups (the reference ``create_optimizer`` split).

        * ``"sound"``: PCNet convs and BatchNorm layers at ``lr_sound``;
        * ``"sound_rates"``: PCNet update rates a, b at ``lr_sound`` without weight decay;
        * ``"visual_head"``: the visual head at ``lr_visual``;
        * ``"visual_trunk"``: the ResNet-18 trunk at ``lr_visual``, only when not frozen.

        Each group carries a ``"name"``; pass the list to e.g. ``torch.optim.AdamW``.
        """
        sound = self.sound_net
        rates = [*sound.correction_rates.parameters(), *sound.prediction_rates.parameters()]
        rate_ids = {id(p) for p in rates}
        sound_weights = [p for p in sound.parameters() if id(p) not in rate_ids]
        head = [*self.visual_net.head_conv.parameters(), *self.visual_net.head_norm.parameters()]
        groups: list[dict[str, Any]] = [
            {"name": "sound", "params": sound_weights, "lr": lr_sound},
            {"name": "sound_rates", "params": rates, "lr": lr_sound, "weight_decay": 0.0},
            {"name": "visual_head", "params": head, "lr": lr_visual},
        ]
        trunk = [p for p in self.visual_net.trunk.parameters() if p.requires_grad]
        if trunk:
            groups.append({"name": "visual_trunk", "params": trunk, "lr": lr_visual})
        return groups
