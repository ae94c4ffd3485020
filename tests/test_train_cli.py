"""`avpc train` end to end on a real (tiny) generated corpus: cache built on first use, uint8
frames normalised on the device, a checkpoint and metrics written; the same run resumes. And on a
folder of the user's own solo videos, instruments named by their folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from avpc_plugin.cli import main
from avpc_plugin.data.cache import ClipCache
from avpc_plugin.data.corpus import SynthConfig, synthesize_corpus
from avpc_plugin.train.config import ConfigError, load_config
from avpc_plugin.train.data import batch_to_device, build_datasets
from avpc_plugin.video.encode import write_mp4

CONFIG = """
name = "tiny"
out_dir = "run"
seed = 0

[model]
arch = "avpc"

[model.config.visual]
freeze_trunk = true
trunk_input_size = 32

[model.config.sound]
ngf = 4
train_cycles = 1

[data]
train = "corpus/train"
val = "corpus/val"
train_items = 4
val_items = 2
frames = 1
workers = 0

[train]
epochs = 1
batch_size = 2
"""


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train_cli")
    clips = SynthConfig(duration=6.0, fps=8.0, size=64)
    for split, seed in (("train", 0), ("val", 1)):
        synthesize_corpus(
            root / "corpus" / split, "val", clips=3, seed=seed, config=clips, workers=1
        )
    path = root / "tiny.toml"
    path.write_text(CONFIG)
    return path


def test_datasets_read_caches_and_frames_are_normalised_on_the_device(config_file: Path) -> None:
    config = load_config(config_file)
    train, val = build_datasets(config)
    assert (config.out_dir / "cache" / "train").is_dir()
    assert (len(train), len(val)) == (4, 2)
    item = val[0]
    assert item["frames"].dtype == torch.uint8
    batch = {key: item[key][None] for key in ("mix", "audios", "frames")}
    mix, audios, frames = batch_to_device(batch, torch.device("cpu"))
    assert frames.dtype == torch.float32
    assert frames.shape == (1, 2, 3, 1, 224, 224)
    assert float(frames.min()) > -3.0 and float(frames.max()) < 3.0  # ImageNet-normalised
    torch.testing.assert_close(mix[0], audios[0].mean(dim=0))


def test_image_size_sets_the_frames_and_the_cache(config_file: Path, tmp_path: Path) -> None:
    # a trunk that sees small frames needs no 224 px cache (8.7 MB a clip): [data] image_size
    small = tmp_path / "small.toml"
    text = config_file.read_text().replace('out_dir = "run"', f'out_dir = "{tmp_path / "run"}"')
    text = text.replace("[data]\n", f'[data]\nimage_size = 48\ncache = "{tmp_path / "cache"}"\n')
    text = text.replace('"corpus/', f'"{config_file.parent / "corpus"}/')
    small.write_text(text)
    train, _ = build_datasets(load_config(small))
    assert train[0]["frames"].shape[-2:] == (48, 48)
    assert ClipCache(tmp_path / "cache" / "train").image_size == 48
    small.write_text(small.read_text().replace("image_size = 48", "image_size = 0"))
    with pytest.raises(ConfigError, match=r"\[data\] image_size: expected a positive integer"):
        load_config(small)


def test_avpc_train_runs_and_resumes(config_file: Path) -> None:
    torch.set_num_threads(2)
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(config_file), "--device", "cpu", "--no-progress"])
    assert result.exit_code == 0, result.output
    run = config_file.parent / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("sdr" in r for r in records), records
    assert "epoch 1/1 validation: loss" in result.output and "sdr" in result.output
    assert list(run.glob("tiny-*.pt")), sorted(p.name for p in run.iterdir())
    again = runner.invoke(main, ["train", str(config_file), "--device", "cpu", "--no-progress"])
    assert again.exit_code != 0 and "--resume" in again.output


def _solo_video(path: Path, pitch: float, hue: int, seconds: float = 6.0) -> None:
    """A 64 px performance video with sound: a flat picture of its own colour, a tone of
    ``pitch`` Hz in the AAC track (as a phone or camera would record it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fps, rate = 8.0, 22050
    frames = np.zeros((round(seconds * fps), 64, 64, 3), dtype=np.uint8)
    frames[..., hue] = 200
    t = np.arange(int(seconds * rate)) / rate
    write_mp4(path, frames, fps, audio=0.4 * np.sin(2 * np.pi * pitch * t), sample_rate=rate)


def test_avpc_train_on_a_folder_of_own_videos(tmp_path: Path) -> None:
    torch.set_num_threads(2)
    for split, pitch_shift in (("train", 1.0), ("val", 1.5)):
        for hue, (instrument, pitch) in enumerate(
            (("violin", 440), ("cello", 110), ("flute", 880))
        ):
            _solo_video(
                tmp_path / "footage" / split / instrument / "take1.mp4", pitch * pitch_shift, hue
            )
    config = CONFIG.replace("corpus/train", "footage/train").replace("corpus/val", "footage/val")
    (tmp_path / "own.toml").write_text(config)
    result = CliRunner().invoke(
        main, ["train", str(tmp_path / "own.toml"), "--device", "cpu", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    cached = ClipCache(run / "cache" / "train").clips
    assert sorted(c.instrument for c in cached) == ["cello", "flute", "violin"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("sdr" in r for r in records), records
    assert "epoch 1/1 validation: loss" in result.output and "sdr" in result.output
    assert list(run.glob("tiny-*.pt")), sorted(p.name for p in run.iterdir())
    # A val folder with a single performance cannot make a duet: the error names the key.
    solo = tmp_path / "footage" / "solo" / "violin"
    solo.mkdir(parents=True)
    (solo / "take1.mp4").write_bytes((tmp_path / "footage/val/violin/take1.mp4").read_bytes())
    (tmp_path / "solo.toml").write_text(
        config.replace("footage/val", "footage/solo").replace('"run"', '"run-solo"')
    )
    failed = CliRunner().invoke(
        main, ["train", str(tmp_path / "solo.toml"), "--device", "cpu", "--no-progress"]
    )
    assert failed.exit_code == 1 and "Traceback" not in failed.output
    assert (
        "[data] val" in failed.output
        and "need at least 2 distinct recordings to mix 2 sources, got 1" in failed.output
    )
