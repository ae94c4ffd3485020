"""Validation during training: loss and BSS Eval SDR / SIR / SAR / NSDR on fixed mixtures (or,
for visual pre-training, the instrument accuracy).

Separated waves come out of the shared front end exactly as at inference on a model clip:
sigmoid of the logits, un-warp, (threshold), mixture magnitude and phase, inverse STFT
(:func:`~avpc_plugin.audio.frontend.masks_to_waves`). As in the reference, a mixture whose
sources or estimates include a silent one is left out of the averages and counted as invalid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from avpc_plugin.audio.frontend import masks_to_waves
from avpc_plugin.metrics import METRIC_NAMES, separation_scores
from avpc_plugin.train.data import objective_inputs
from avpc_plugin.train.distributed import DistributedContext, gather_lists


def validate(
    objective: nn.Module,
    loader: Iterable[dict[str, Any]],
    ctx: DistributedContext,
    threshold: float | None = 0.5,
    separation: bool = True,
    classes: Sequence[str] | None = None,
) -> dict[str, float]:
    """Mean validation loss and (for separation objectives) mean BSS Eval scores over all ranks.

    Args:
        objective: a :mod:`~avpc_plugin.train.objective` module (plain or DDP-wrapped).
        loader: this rank's validation batches.
        ctx: the distributed context (per-item results are gathered from every rank).
        threshold: binarise mask probabilities at this value; ``None`` keeps them soft.
        separation: compute SDR etc. (False for the RCoP objective, which only has a loss).
        classes: the instrument classes of a visual pre-training objective: its labels come from
            each batch's ``instruments`` and the accuracy is reported.

    Returns:
        ``{"loss", "items"}`` and, for separation, ``"sdr", "sir", "sar", "nsdr", "sdr_mix"``
        (dB, means over valid items) and ``"invalid"`` (items left out); with ``classes``,
        ``"accuracy"``: the share of labelled sources whose class (logits averaged over the
        frames) is right.
    """
    objective.eval()
    records: list[dict[str, float]] = []
    with torch.no_grad():
        for batch in loader:
            inputs = objective_inputs(batch, ctx.device, classes)
            out = objective(*inputs)
            if classes is not None:
                records.extend(_item_accuracy(float(out.loss), out.logits, inputs[3]))
                continue
            mix, audios = inputs[:2]
            loss = float(out.loss)
            if not separation or out.logits is None or out.analysis is None:
                records.extend({"loss": loss} for _ in range(mix.shape[0]))
                continue
            waves = masks_to_waves(
                torch.sigmoid(out.logits), out.analysis.mix_spec, mix.shape[-1], threshold=threshold
            )
            for item in range(mix.shape[0]):
                records.append({"loss": loss, **_item_scores(audios[item], waves[item], mix[item])})
    objective.train()
    records = gather_lists(records, ctx)
    result: dict[str, float] = {
        "loss": float(np.mean([r["loss"] for r in records])) if records else float("nan"),
        "items": float(len(records)),
    }
    if classes is not None:
        counted = sum(r["counted"] for r in records)
        right = sum(r["right"] for r in records)
        result["accuracy"] = right / counted if counted else float("nan")
    if separation:
        valid = [r for r in records if r.get("valid")]
        for key in (*METRIC_NAMES, "sdr_mix"):
            result[key] = float(np.mean([r[key] for r in valid])) if valid else float("nan")
        result["invalid"] = float(len(records) - len(valid))
    return result


def _item_scores(
    reference: torch.Tensor, estimate: torch.Tensor, mix: torch.Tensor
) -> dict[str, Any]:
    """Mean scores over one mixture's sources, or ``{"valid": False}`` for a silent one."""
    ref = reference.detach().double().cpu().numpy()
    est = estimate.detach().double().cpu().numpy()
    if not (np.abs(ref).sum(axis=1) > 1e-5).all() or not (np.abs(est).sum(axis=1) > 1e-5).all():
        return {"valid": False}
    scores = separation_scores(ref, est, mix.detach().double().cpu().numpy())
    return {"valid": True, **{key: float(np.mean(value)) for key, value in scores.items()}}


def _item_accuracy(
    loss: float, logits: torch.Tensor, labels: torch.Tensor
) -> list[dict[str, float]]:
    """Per item: the batch loss, its labelled sources and how many are classified right."""
    predicted = logits.mean(dim=2).argmax(dim=-1)  # (B, N): frame-averaged class logits
    labelled = labels >= 0
    right = (predicted == labels) & labelled
    return [
        {"loss": loss, "counted": float(labelled[i].sum()), "right": float(right[i].sum())}
        for i in range(labels.shape[0])
    ]
