"""What one training step computes, as modules that ``DistributedDataParallel`` can wrap.

Both objectives take a collated batch of :class:`~avpc_plugin.data.datasets.MixSeparateDataset`
items (``mix`` (B, L), ``audios`` (B, N, L), ``frames`` (B, N, 3, T, 224, 224)) and run the
shared model-rate front end (:func:`~avpc_plugin.audio.frontend.analyse_mixture`) in float32
before the net, whose forward may run under bf16 autocast.

* :class:`SeparationObjective`: mix-and-separate. Targets are computed on the warped
  magnitudes, as in the reference: binary (source > 0.5 mix) with weighted BCE on the logits, or
  ratio (source / mix, clamped to [0, 5]) with weighted L1 / L2 on the sigmoid of the logits (the
  reference's ``output_activation = sigmoid``).
* :class:`RCoPObjective`: the reference's RCoP pre-training. A batch holds three sources A, B, C
  per item; the net separates A (guided by A's frames) from (A + B) / 2 and from (A + C) / 2, and
  the SimSiam heads make the two mask-logit maps of A co-predict each other.
* :class:`VisualClassificationObjective`: visual trunk pre-training. The net's ResNet-18 trunk
  learns to name each source's instrument from its frames (cross-entropy on the corpus labels),
  since no ImageNet weights can be had here; a separation stage then starts from it
  (``init_from``) with the trunk frozen, the paper's setting.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avpc_plugin.audio.frontend import MixtureAnalysis, analyse_mixture
from avpc_plugin.audio.losses import mask_loss_weight, weighted_bce_with_logits, weighted_ratio_loss
from avpc_plugin.audio.masks import binary_mask_target, ratio_mask_target
from avpc_plugin.audio.mixing import mix_sources
from avpc_plugin.nets.rcop import RCoPHeads, rcop_loss
from avpc_plugin.nets.visual import TRUNK_CHANNELS, run_trunk
from avpc_plugin.train.config import LossSection


def autocast_for(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA when asked, else a no-op context."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class StepOutput:
    """One objective evaluation.

    Attributes:
        loss: scalar, averaged over the batch.
        logits: mask logits ``(B, N, 256, 256)`` in float32 (separation), class logits
            ``(B, N, T, classes)`` (visual pre-training), or None (RCoP).
        analysis: the front end's spectrograms of the batch (separation only).
    """

    loss: Tensor
    logits: Tensor | None = None
    analysis: MixtureAnalysis | None = None


class SeparationObjective(nn.Module):
    """Mix-and-separate loss of a top-level separation net ("avpc", "sop").

    Args:
        model: the net (``forward(mix_mag, frames) -> logits``).
        loss: the mask target and loss settings.
        bf16: run the net under bf16 autocast on CUDA.
    """

    def __init__(self, model: nn.Module, loss: LossSection, bf16: bool = False) -> None:
        super().__init__()
        self.model = model
        self.loss_settings = loss
        self.bf16 = bf16

    def forward(self, mix: Tensor, audios: Tensor, frames: Tensor) -> StepOutput:
        """``mix`` (B, L), ``audios`` (B, N, L), ``frames`` (B, N, 3, T, 224, 224) -> loss."""
        analysis = analyse_mixture(mix, audios)
        with autocast_for(mix.device, self.bf16):
            logits = self.model(analysis.warped_mix_mag, frames)
        logits = logits.float()
        return StepOutput(mask_loss(logits, analysis, self.loss_settings), logits, analysis)


def mask_loss(logits: Tensor, analysis: MixtureAnalysis, settings: LossSection) -> Tensor:
    """The configured mask loss of ``logits`` (B, N, H, T) against the sources in ``analysis``."""
    sources, mixture = analysis.warped_source_mags, analysis.warped_mix_mag
    if sources is None:
        raise ValueError(
            "analysis: the mask loss needs the source magnitudes (analyse with sources)"
        )
    weight = mask_loss_weight(mixture) if settings.weighted else None
    if settings.mask == "binary":
        return weighted_bce_with_logits(logits, binary_mask_target(sources, mixture), weight)
    target = ratio_mask_target(sources, mixture)
    norm: Literal[1, 2] = 1 if settings.ratio_norm == 1 else 2
    return weighted_ratio_loss(torch.sigmoid(logits), target, weight, p=norm)


class RCoPObjective(nn.Module):
    """RCoP SimSiam co-prediction loss of an "avpc" model (see the module docstring).

    Args:
        model: the "avpc" net.
        heads: the SimSiam projector / predictor.
        bf16: run the nets under bf16 autocast on CUDA.
    """

    def __init__(self, model: nn.Module, heads: RCoPHeads, bf16: bool = False) -> None:
        super().__init__()
        self.model: Any = model
        self.heads = heads
        self.bf16 = bf16

    def forward(self, mix: Tensor, audios: Tensor, frames: Tensor) -> StepOutput:
        """Training: ``audios`` (B, 3, L) = A, B, C -> views (A + B) / 2 and (A + C) / 2.
        Evaluation with two sources (the reference's validation): views (A + B) / 2 and A alone.
        ``mix`` is not used (the views are mixed here); ``frames`` (B, N, ...) of which A's."""
        if audios.dim() != 3 or audios.shape[1] not in (2, 3):
            raise ValueError(
                f"audios: RCoP expects (B, 3, L) sources A, B, C (or (B, 2, L) for validation), "
                f"got shape {tuple(audios.shape)}"
            )
        first = mix_sources(audios[:, :2])
        second = mix_sources(audios[:, 0::2]) if audios.shape[1] == 3 else audios[:, 0]
        batch = audios.shape[0]
        analysis = analyse_mixture(torch.cat([first, second]))
        with autocast_for(audios.device, self.bf16):
            features = self.model.visual_features(frames[:, :1])  # A's frames only
            logits = self.model.masks_from_features(
                analysis.warped_mix_mag, torch.cat([features, features])
            )
            p1, p2, z1, z2 = self.heads(logits[:batch], logits[batch:])
        return StepOutput(rcop_loss(p1.float(), p2.float(), z1.float(), z2.float()))


class VisualClassificationObjective(nn.Module):
    """Instrument classification by the net's visual trunk (see the module docstring).

    Every frame of every source goes through the trunk (at the visual net's
    ``trunk_input_size``); its map is average-pooled to a 512-vector and a linear classifier gives
    class logits. The loss is the cross-entropy over all frames; sources whose instrument is not
    a class (label -1) are left out. Only the trunk and the classifier learn: the rest of the
    net is set to ``requires_grad = False`` for this stage (so DDP sees no unused parameters).

    Args:
        model: a top-level net whose ``visual_net`` has a ``trunk`` and ``trunk_input_size``
            ("avpc", "sop") and a trunk that is not frozen.
        classes: number of instrument classes.
        bf16: run the trunk under bf16 autocast on CUDA.
    """

    def __init__(self, model: nn.Module, classes: int, bf16: bool = False) -> None:
        super().__init__()
        visual: Any = getattr(model, "visual_net", None)
        trunk = getattr(visual, "trunk", None)
        if trunk is None:
            raise ValueError(f"model: {type(model).__name__} has no visual_net.trunk to pre-train")
        if getattr(visual, "freeze_trunk", False):
            raise ValueError("model: the visual trunk is frozen; pre-training needs it trainable")
        trunk_parameters = {id(p) for p in trunk.parameters()}
        for parameter in model.parameters():
            if id(parameter) not in trunk_parameters:
                parameter.requires_grad_(False)
        self.model: Any = model
        self.classifier = nn.Linear(TRUNK_CHANNELS, classes)
        self.bf16 = bf16

    def forward(self, mix: Tensor, audios: Tensor, frames: Tensor, labels: Tensor) -> StepOutput:
        """``frames`` (B, N, 3, T, H, W), ``labels`` (B, N) class indices (-1: none) -> loss and
        class logits (B, N, T, classes). ``mix`` and ``audios`` are not used."""
        batch, sources, channels, times, height, width = frames.shape
        images = frames.transpose(2, 3).reshape(-1, channels, height, width)
        visual = self.model.visual_net
        with autocast_for(frames.device, self.bf16):
            maps = run_trunk(visual.trunk, images, visual.trunk_input_size, frozen=False)
        logits = self.classifier(maps.float().mean(dim=(2, 3)))  # (B * N * T, classes)
        targets = labels.reshape(-1, 1).expand(-1, times).reshape(-1)
        if (targets >= 0).any():
            loss = F.cross_entropy(logits, targets, ignore_index=-1)
        else:  # no labelled source in the batch: a zero that still reaches every parameter
            loss = logits.sum() * 0.0
        return StepOutput(loss, logits.reshape(batch, sources, times, -1))
