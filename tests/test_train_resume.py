"""Resume reproduces an uninterrupted run exactly; the run folder holds what it promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers_train import ToneMixtures, tiny_config_dict

from avpc_plugin.checkpoints.format import load_checkpoint
from avpc_plugin.train.config import ConfigError, config_from_dict
from avpc_plugin.train.trainer import Trainer, TrainingError


def train_losses(out: Path) -> list[float]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if json.loads(line)["kind"] == "train"]


def make_trainer(out: Path, epochs: int, data: ToneMixtures) -> Trainer:
    raw = tiny_config_dict(str(out), train={"epochs": epochs, "batch_size": 2, "val_every": 99})
    return Trainer(config_from_dict(raw, check_data=False), data, data, progress=False)


def test_resume_repeats_the_uninterrupted_losses(tmp_path: Path) -> None:
    torch.set_num_threads(2)
    data = ToneMixtures(count=2)
    whole = tmp_path / "whole"
    make_trainer(whole, 2, data).fit()

    split = tmp_path / "split"
    make_trainer(split, 1, data).fit()  # "interrupted" after epoch 1
    with pytest.raises(TrainingError, match="--resume"):
        make_trainer(split, 2, data).fit()
    state = make_trainer(split, 2, data).fit(resume=True)

    assert state.epoch == 2 and state.step == 2
    assert train_losses(split) == train_losses(whole)  # bit-exact, not approximately
    for name in ("state.json", "curves.png"):
        assert (split / name).is_file()
    last = load_checkpoint(split / state.last)  # verifies the sha8 in the name
    assert {"optimizer", "rng", "run_state"} <= set(last.extra)
    assert last.summary["epoch"] == 2 and last.summary["config"]["name"] == "tiny"
    best = load_checkpoint(split / state.best)
    assert best.arch == "avpc" and best.config["sound"]["ngf"] == 4
    whole_last = load_checkpoint(whole / make_state(whole)["last"])
    for key, value in last.model.state_dict().items():
        assert torch.equal(value, whole_last.model.state_dict()[key]), key


def make_state(out: Path) -> dict[str, object]:
    return json.loads((out / "state.json").read_text())


def test_resume_without_a_run_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no run to resume"):
        make_trainer(tmp_path / "none", 1, ToneMixtures(count=2)).fit(resume=True)


def test_resume_with_another_model_config_fails_clearly(tmp_path: Path) -> None:
    data = ToneMixtures(count=2)
    make_trainer(tmp_path, 1, data).fit()
    raw = tiny_config_dict(str(tmp_path), train={"epochs": 2, "batch_size": 2, "val_every": 99})
    raw["model"]["config"]["sound"]["ngf"] = 8  # the run was trained at ngf 4
    wider = Trainer(config_from_dict(raw, check_data=False), data, data, progress=False)
    with pytest.raises(TrainingError, match=r"trained with another .* size mismatch"):
        wider.fit(resume=True)


def test_keep_checkpoints_sets_how_many_epoch_checkpoints_stay(tmp_path: Path) -> None:
    data = ToneMixtures(count=2)
    for keep, expected in ((None, [2, 3]), (3, [1, 2, 3])):
        out = tmp_path / f"keep-{keep}"
        train = {"epochs": 3, "batch_size": 2, "val_every": 99}
        if keep is not None:
            train["keep_checkpoints"] = keep
        config = config_from_dict(tiny_config_dict(str(out), train=train), check_data=False)
        state = Trainer(config, data, data, progress=False).fit()
        files = sorted((out / "checkpoints").glob("*.pt"))
        assert [int(f.name.split("-epoch")[1][:3]) for f in files] == expected
        assert state.history == [str(f.relative_to(out)) for f in files]


def test_keep_checkpoints_must_be_positive(tmp_path: Path) -> None:
    raw = tiny_config_dict(str(tmp_path), train={"keep_checkpoints": 0})
    with pytest.raises(ConfigError, match=r"\[train\] keep_checkpoints: expected a positive"):
        config_from_dict(raw, check_data=False)
