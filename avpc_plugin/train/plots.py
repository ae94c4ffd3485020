"""Training curves as a PNG: loss (train steps and validation) and validation SDR / SIR / SAR (or,
for visual pre-training, the validation accuracy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file (missing file: none)."""
    file = Path(path)
    if not file.is_file():
        return []
    with open(file, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def plot_curves(records: list[dict[str, Any]], out: str | Path) -> Path:
    """Draw the loss and validation-score curves of a run's metrics records into ``out`` (PNG).

    Train records (``"kind": "train"``) are plotted against the fractional epoch; validation
    records (``"kind": "val"``) at their epoch. Returns the file written.
    """
    import matplotlib  # deferred: slow to import (about 0.5 s); only the curves PNG needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: after choosing the Agg backend above

    train = [r for r in records if r.get("kind") == "train"]
    val = [r for r in records if r.get("kind") == "val"]
    has_accuracy = any("accuracy" in r for r in val)
    has_scores = has_accuracy or any("sdr" in r for r in val)
    figure, axes = plt.subplots(1, 2 if has_scores else 1, figsize=(11 if has_scores else 6, 4))
    loss_axis = axes[0] if has_scores else axes
    loss_axis.plot([r["epoch_f"] for r in train], [r["loss"] for r in train], lw=0.8, label="train")
    loss_axis.plot([r["epoch"] for r in val], [r["loss"] for r in val], "o-", label="validation")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("loss")
    loss_axis.set_title("loss")
    loss_axis.legend()
    if has_accuracy:
        axes[1].plot([r["epoch"] for r in val], [r["accuracy"] for r in val], "o-")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("share of sources")
        axes[1].set_title("validation instrument accuracy")
    elif has_scores:
        score_axis = axes[1]
        for key in ("sdr", "sir", "sar"):
            score_axis.plot(
                [r["epoch"] for r in val], [r[key] for r in val], "o-", label=key.upper()
            )
        score_axis.plot(
            [r["epoch"] for r in val], [r["sdr_mix"] for r in val], "--", label="SDR of the mixture"
        )
        score_axis.set_xlabel("epoch")
        score_axis.set_ylabel("dB")
        score_axis.set_title("validation")
        score_axis.legend()
    figure.tight_layout()
    path = Path(out)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
