"""Visual trunk pre-training (stage "visual"): the trunk learns the instruments, nothing else
moves, and a separation stage starts from it with the trunk frozen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers_train import ToneMixtures, tiny_config_dict

from avpc_plugin.checkpoints.format import load_checkpoint
from avpc_plugin.nets import build_net
from avpc_plugin.train.config import ConfigError, config_from_dict
from avpc_plugin.train.data import instrument_labels
from avpc_plugin.train.objective import VisualClassificationObjective
from avpc_plugin.train.trainer import Trainer

TRAINABLE_TRUNK = {"freeze_trunk": False, "trunk_input_size": 32}


def visual_config(out: Path, **model_visual: object) -> dict[str, object]:
    raw = tiny_config_dict(
        str(out), stage="visual", train={"epochs": 6, "batch_size": 4},
        optim={"lr_visual": 1e-3, "lr_heads": 1e-2},
    )  # fmt: skip
    raw["model"]["config"]["visual"] = {**TRAINABLE_TRUNK, **model_visual}  # type: ignore[index]
    return raw


def test_labels_index_the_classes_and_mark_unknown_instruments() -> None:
    labels = instrument_labels([["b", "a"], ["c", "b"]], ["a", "b"], torch.device("cpu"))
    assert labels.tolist() == [[1, 0], [-1, 1]]


def test_objective_trains_only_the_trunk_and_its_classifier() -> None:
    torch.manual_seed(0)
    model = build_net("avpc", visual=TRAINABLE_TRUNK, sound={"ngf": 4, "train_cycles": 1})
    objective = VisualClassificationObjective(model, classes=4)
    item = ToneMixtures(count=2, frames=2).items
    frames = torch.stack([i["frames"] for i in item])
    labels = torch.tensor([[0, 1], [-1, 2]])
    out = objective(torch.zeros(2, 8), torch.zeros(2, 2, 8), frames, labels)
    assert out.logits is not None and out.logits.shape == (2, 2, 2, 4)
    out.loss.backward()
    trunk = {id(p) for p in model.visual_net.trunk.parameters()}
    for name, parameter in model.named_parameters():
        assert (parameter.grad is not None) == (id(parameter) in trunk), name
    assert objective.classifier.weight.grad is not None
    none_labelled = objective(torch.zeros(2, 8), torch.zeros(2, 2, 8), frames, labels * 0 - 1)
    assert float(none_labelled.loss.detach()) == 0.0


def test_pretrained_trunk_names_the_instruments_and_feeds_a_frozen_separation_stage(
    tmp_path: Path,
) -> None:
    torch.set_num_threads(2)
    data = ToneMixtures(count=8)
    run = tmp_path / "visual"
    state = Trainer(config_from_dict(visual_config(run), check_data=False), data, data,
                    progress=False).fit()  # fmt: skip
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    accuracy = [r["accuracy"] for r in records if r["kind"] == "val"]
    assert accuracy[-1] == 1.0, accuracy  # four flat colours: learnt within a few steps
    best = load_checkpoint(run / str(state.best))
    assert best.summary["stage"] == "visual"
    torch.manual_seed(0)  # the fresh net the run started from (tiny_config_dict's seed 0)
    fresh = build_net("avpc", visual=TRAINABLE_TRUNK, sound={"ngf": 4, "train_cycles": 1})
    for key, value in fresh.state_dict().items():
        moved = not torch.equal(value, best.model.state_dict()[key])
        if key.startswith("sound_net.") or key.startswith("visual_net.head"):
            assert not moved, key
    assert any(
        not torch.equal(v, best.model.state_dict()[k])
        for k, v in fresh.state_dict().items()
        if k.startswith("visual_net.trunk.") and v.is_floating_point()
    )

    separate = tiny_config_dict(str(tmp_path / "separate"), init_from=str(run),
                                train={"epochs": 1, "batch_size": 4, "val_every": 99})  # fmt: skip
    separate["model"]["config"]["visual"] = {**TRAINABLE_TRUNK, "freeze_trunk": True}
    trainer = Trainer(config_from_dict(separate, check_data=False), data, data, progress=False)
    for key, value in best.model.state_dict().items():
        if key.startswith("visual_net.trunk."):
            assert torch.equal(trainer.model.state_dict()[key], value), key
    trainer.fit()
    for key, value in best.model.state_dict().items():
        if key.startswith("visual_net.trunk."):
            assert torch.equal(trainer.model.state_dict()[key], value), key


def test_a_frozen_trunk_cannot_be_pretrained(tmp_path: Path) -> None:
    raw = visual_config(tmp_path / "run", freeze_trunk=True)
    data = ToneMixtures(count=4)
    with pytest.raises(ConfigError, match="freeze_trunk"):
        Trainer(config_from_dict(raw, check_data=False), data, data, progress=False)
