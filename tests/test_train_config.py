"""Training configs fail before training, naming the key or path; shipped configs load."""

from __future__ import annotations

from pathlib import Path

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


def test_missing_required_key_and_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text('name = "x"\n')
    with pytest.raises(ConfigError, match="missing required key 'out_dir'"):
        load_config(path)
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


@pytest.mark.parametrize("file", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
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
