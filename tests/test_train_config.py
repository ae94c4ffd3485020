"""Training configs fail before training, naming the key or path; shipped configs load."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from avpc_plugin.train.config import ConfigError, load_config
from avpc_plugin.train.trainer import lr_drop_epochs

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "corpus").mkdir(exist_ok=True)
    (tmp_path / "corpus" / "index.jsonl").write_text("")
    path = tmp_path / "run.toml"
    path.write_text('name = "t"\nout_dir = "out"\n' + text)
    return path


DATA = '[data]\ntrain = "corpus"\nval = "corpus"\n'


def test_valid_config_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, DATA + "[optim]\nlr_sound = 1\n"))
    assert config.data.train == tmp_path / "corpus"
    assert config.out_dir == tmp_path / "out"
    assert config.optim.lr_sound == 1.0 and isinstance(config.optim.lr_sound, float)


def test_trunk_weights_are_taken_from_the_config_folder(tmp_path: Path) -> None:
    import torch
    import torchvision

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "trunk.pth")
    model = '[model]\narch = "sop"\n[model.config]\ntrunk_weights = "trunk.pth"\n'
    config = load_config(write(tmp_path, model + DATA))
    assert config.model.config["trunk_weights"] == str(tmp_path / "trunk.pth")
    missing = model.replace("trunk.pth", "absent.pth")
    with pytest.raises(ConfigError, match=r"\[model.config\].*absent.pth"):
        load_config(write(tmp_path, missing + DATA))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DATA + "[optim]\nlr_snd = 1e-3\n", "[optim] unknown key 'lr_snd'"),
        (DATA + "epochz = 3\n", "unknown key 'epochz'"),
        (DATA + '[train]\nepochs = "10"\n', "[train] epochs: expected int, got str '10'"),
        (DATA + "[train]\nbatch_size = 2.5\n", "[train] batch_size: expected int"),
        (DATA + '[loss]\nmask = "soft"\n', "[loss] mask: expected 'binary' or 'ratio'"),
        (DATA + "[optim]\nlr_drops = [0.4, 1.5]\n", "[optim] lr_drops"),
        (DATA + "frame_augment = 1.5\n", "[data] frame_augment: expected a probability"),
        (DATA + "audio_augment = -1\n", "[data] audio_augment: expected a probability"),
        (DATA + "sources = 1\n", "[data] sources: expected 2 or more sources"),
        (DATA + "[model.config.sound]\nngf = 0\n", "[model.config]: rejected by 'avpc'"),
        (DATA + '[model]\narch = "unet"\n', "[model] arch: unknown net 'unet'"),
        ('[data]\ntrain = "nowhere"\nval = "corpus"\n', "[data] train: no such data folder"),
        ('[data]\ntrain = "corpus"\n', "[data] val: missing"),
        (DATA + 'stage = "rcop"\n[model]\narch = "sop"\n', "stage: 'rcop' pre-trains"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    # top-level keys must precede the tables in TOML: put stage first where used
    if text.count("stage =") and not text.startswith("stage"):
        text = 'stage = "rcop"\n' + text.replace('stage = "rcop"\n', "")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_data_folders_are_checked_for_what_they_hold(tmp_path: Path) -> None:
    (tmp_path / "footage" / "violin").mkdir(parents=True)
    (tmp_path / "footage" / "violin" / "notes.txt").write_text("no video here")
    with pytest.raises(ConfigError, match=r"\[data\] train: folder .*footage has neither an index"):
        load_config(write(tmp_path, '[data]\ntrain = "footage"\nval = "corpus"\n'))
    (tmp_path / "footage" / "violin" / "take1.MOV").write_bytes(b"")  # a video folder now
    (tmp_path / "labels.csv").write_text("path,instrument\n")
    config = load_config(
        write(tmp_path, '[data]\ntrain = "footage"\nval = "corpus"\ntrain_index = "labels.csv"\n')
    )
    assert config.data.train_index == tmp_path / "labels.csv"
    with pytest.raises(ConfigError, match=r"\[data\] val_index: goes with a folder of videos"):
        load_config(write(tmp_path, DATA + 'val_index = "labels.csv"\n'))
    with pytest.raises(ConfigError, match=r"\[data\] train_index: no such index file"):
        load_config(
            write(tmp_path, '[data]\ntrain = "footage"\nval = "corpus"\ntrain_index = "x.csv"\n')
        )


def test_missing_required_key_and_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text('name = "x"\n')
    with pytest.raises(ConfigError, match="missing required key 'out_dir'"):
        load_config(path)
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


@pytest.mark.parametrize(
    "file",
    sorted([*CONFIGS.glob("*.toml"), *CONFIGS.glob("experiments/*.toml")]),
    ids=lambda p: str(p.relative_to(CONFIGS)),
)
def test_shipped_configs_are_valid(file: Path) -> None:
    config = load_config(file, check_data=False)
    assert config.name and config.train.epochs > 0


def test_paper_config_matches_the_recipe() -> None:
    config = load_config(CONFIGS / "avpc_paper.toml", check_data=False)
    assert config.model.config["sound"] == {"ngf": 64, "train_cycles": 4}
    assert (config.optim.optimizer, config.optim.weight_decay) == ("adamw", 1e-2)
    assert (config.optim.lr_sound, config.optim.lr_visual) == (1e-3, 1e-4)
    assert (config.data.sources, config.loss.mask) == (2, "binary")
    assert lr_drop_epochs(config.train.epochs, config.optim.lr_drops) == [40, 80]


def test_extends_merges_tables_and_takes_each_files_paths_from_its_folder(tmp_path: Path) -> None:
    import torch
    import torchvision

    shared = tmp_path / "shared"
    shared.mkdir()
    write(shared, "")  # shared/corpus
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), shared / "trunk.pth")
    (shared / "base.toml").write_text(
        'name = "base"\nout_dir = "runs/base"\n'
        '[model]\narch = "avpc"\n'
        '[model.config.visual]\ntrunk_weights = "trunk.pth"\n'
        "[model.config.sound]\nngf = 16\ntrain_cycles = 2\n"
        '[data]\ntrain = "corpus"\nval = "corpus"\nframe_augment = 0.5\n'
        "[optim]\nlr_sound = 1e-3\nlr_drops = [0.8]\n"
        "[train]\nepochs = 6\nbatch_size = 8\n"
    )
    child = tmp_path / "child.toml"
    child.write_text(
        'extends = "shared/base.toml"\nname = "child"\nout_dir = "runs/child"\n'
        "[model.config.sound]\nngf = 32\n"
        "[data]\naudio_augment = 0.5\n"
        "[train]\nepochs = 9\n"
    )
    config = load_config(child)
    assert (config.name, config.out_dir) == ("child", tmp_path / "runs/child")
    # Inherited paths stay the parent's: from shared/, not from the child's folder.
    assert config.data.train == shared / "corpus"
    assert config.model.config["visual"]["trunk_weights"] == str(shared / "trunk.pth")
    # Tables merge key by key: the child's keys win, the rest is inherited.
    assert config.model.config["sound"] == {"ngf": 32, "train_cycles": 2}
    assert (config.data.frame_augment, config.data.audio_augment) == (0.5, 0.5)
    assert (config.train.epochs, config.train.batch_size) == (9, 8)
    assert (config.optim.lr_sound, config.optim.lr_drops) == (1e-3, [0.8])


@pytest.mark.parametrize(
    ("child", "message"),
    [
        ('extends = "base.toml"\nname = "c"\n', "missing required key 'out_dir' (a config that"),
        ('extends = "nowhere.toml"\nname = "c"\nout_dir = "o"\n', "extends: no such config"),
        ('extends = 3\nname = "c"\nout_dir = "o"\n', "extends: expected a config file path"),
        ('extends = "child.toml"\nname = "c"\nout_dir = "o"\n', "extends: a cycle of configs"),
        ('extends = "base.toml"\nname = "c"\nout_dir = "o"\n[data]\nsauces = 2\n', "unknown key"),
    ],
)
def test_bad_extends_is_named(tmp_path: Path, child: str, message: str) -> None:
    write(tmp_path, DATA)  # run.toml with the corpus, as a complete parent
    (tmp_path / "run.toml").rename(tmp_path / "base.toml")
    path = tmp_path / "child.toml"
    path.write_text(child)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in str(raised.value) and str(path) in str(raised.value)


def _same_place(value: Any) -> Any:
    """``value`` (a config section) with every path normalised: configs/experiments/../../data
    and configs/../data name one folder."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _same_place(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {key: _same_place(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_same_place(item) for item in value]
    if isinstance(value, Path) or (isinstance(value, str) and "/" in value):
        return os.path.normpath(value)
    return value


def test_experiment_configs_only_state_what_differs() -> None:
    """Each experiment config (configs/experiments/) extends a recipe in configs/ and equals it
    but for what it states; its relative paths name the recipe's folders."""
    recipe = load_config(CONFIGS / "avpc_synth_cpu.toml", check_data=False)
    longer = load_config(CONFIGS / "experiments" / "avpc_synth_cpu_900.toml", check_data=False)
    assert longer.train.epochs == 9 and longer.out_dir != recipe.out_dir
    assert longer.out_dir.resolve().parent == recipe.out_dir.resolve().parent
    assert _same_place((longer.model, longer.data, longer.optim)) == _same_place(
        (recipe.model, recipe.data, recipe.optim)
    )
    for arch in ("avpc", "sop"):
        plain = load_config(CONFIGS / f"{arch}_synth_cpu.toml", check_data=False)
        eq = load_config(CONFIGS / "experiments" / f"{arch}_synth_cpu_eq.toml", check_data=False)
        assert (plain.data.audio_augment, eq.data.audio_augment) == (0.0, 0.5)
        assert _same_place(eq.model) == _same_place(plain.model)
        assert eq.train == plain.train and eq.optim == plain.optim
