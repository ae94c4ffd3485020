"""A tiny AVPC overfits 8 fixed mixtures: the trainer's own validation SDR rises >= 3 dB over the
mixture's within a CPU-minute's budget: 30 steps, which take about 50 CPU-seconds on a quiet 2-core
machine. The budget is fixed in steps, not timed here (a loaded CI machine must not fail it);
speed is measured by benchmarks/train_speed.py."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from helpers_train import ToneMixtures, tiny_config_dict

from avpc_plugin.train.config import config_from_dict
from avpc_plugin.train.trainer import Trainer

MIXTURES = 8
EPOCHS = 30
"""One step per epoch on a batch of all 8 mixtures (batches with repeats train far slower); the
lr drops 10x for the last 6 steps, so BatchNorm's running statistics (used in validation) catch
up with the weights."""


def test_overfitting_eight_mixtures_raises_sdr_by_three_db(tmp_path: Path) -> None:
    torch.set_num_threads(2)
    raw = tiny_config_dict(
        str(tmp_path / "run"),
        model={
            "arch": "avpc",
            "config": {
                # flat-colour frames carry no detail: the trunk's smallest input is enough
                "visual": {"freeze_trunk": True, "trunk_input_size": 32},
                "sound": {"ngf": 8, "train_cycles": 1},
            },
        },
        optim={"lr_sound": 1e-2, "lr_visual": 1e-2, "lr_drops": [0.8]},
        train={"epochs": EPOCHS, "batch_size": MIXTURES, "val_every": EPOCHS, "log_every": 1},
    )
    data = ToneMixtures(count=MIXTURES)  # trained on and scored on
    Trainer(config_from_dict(raw, check_data=False), data, data, progress=False).fit()

    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    (scores,) = [r for r in records if r["kind"] == "val"]
    assert scores["items"] == MIXTURES and scores["invalid"] == 0
    gain = scores["sdr"] - scores["sdr_mix"]
    assert gain >= 3.0, f"SDR {scores['sdr']:.2f} dB vs mixture {scores['sdr_mix']:.2f} dB"
    losses = [r["loss"] for r in records if r["kind"] == "train"]
    assert losses[-1] < 0.6 * losses[0]
