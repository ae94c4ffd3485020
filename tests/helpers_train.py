"""Synthetic mix-and-separate data for the training and evaluation tests.

Each "instrument" is a harmonic tone with its own pitch and note pattern, and its frames are a
flat picture of its own colour, so sight and sound identify each other without any real corpus
(the synthetic corpus would work too, but decoding its videos costs seconds per item on a shared
2-core machine).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from avpc_plugin.audio.io import write_audio
from avpc_plugin.audio.mixing import make_mixture, peak_normalize
from avpc_plugin.audio.stft import CLIP_SAMPLES, MODEL_RATE
from avpc_plugin.data.clips import SoloClip
from avpc_plugin.video.encode import write_mp4

FUNDAMENTALS = (196.0, 392.0, 784.0, 1568.0)
"""Hz: one per instrument, an octave apart so the harmonics of any two barely overlap."""
COLOURS = ((2.0, -1.5, -1.5), (-1.5, 2.0, -1.5), (-1.5, -1.5, 2.0), (1.5, 1.5, -1.5))
"""ImageNet-normalised RGB values of each instrument's flat frames."""


def tone(instrument: int, rng: np.random.Generator, length: int = CLIP_SAMPLES) -> np.ndarray:
    """A note pattern of ``instrument``'s harmonic tone: ``(length,)`` float32, peak 1."""
    t = np.arange(length) / MODEL_RATE
    f0 = FUNDAMENTALS[instrument]
    wave = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h for h in (1, 2, 3))
    notes = np.repeat(rng.random(length // 4096 + 1) < 0.7, 4096)[:length]
    envelope = np.convolve(notes.astype(float), np.hanning(512) / np.hanning(512).sum(), "same")
    return (peak_normalize(torch.from_numpy(wave * envelope))).float().numpy()


class ToneMixtures(Dataset[dict[str, Any]]):
    """``count`` fixed mixtures of ``sources`` distinct instruments (items as MixSeparateDataset).

    Items: ``mix`` (L,), ``audios`` (N, L) gained sources, ``frames`` (N, 3, T, 224, 224),
    ``instruments`` (N names). ``clips`` lists one clip per tone, as a corpus dataset does.
    """

    def __init__(self, count: int = 8, sources: int = 2, frames: int = 1, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.clips = [
            SoloClip(
                f"tone{k}", Path(f"tone{k}.wav"), Path(f"tone{k}.mp4"), CLIP_SAMPLES / MODEL_RATE
            )
            for k in range(len(FUNDAMENTALS))
        ]
        combos = list(itertools.permutations(range(len(FUNDAMENTALS)), sources))
        self.items = []
        for index in range(count):
            chosen = (
                combos[int(rng.integers(len(combos)))] if index >= len(combos) else combos[index]
            )
            solos = torch.from_numpy(np.stack([tone(k, rng) for k in chosen]))[None]
            gains = torch.from_numpy(rng.uniform(0.5, 1.5, (1, sources))).float()
            mixture = make_mixture(solos, gains)
            picture = torch.stack(
                [
                    torch.tensor(COLOURS[k]).view(3, 1, 1, 1).expand(3, frames, 224, 224)
                    for k in chosen
                ]
            )
            self.items.append(
                {
                    "mix": mixture.mix[0],
                    "audios": mixture.sources[0],
                    "frames": picture.contiguous(),
                    "instruments": [f"tone{k}" for k in chosen],
                }
            )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.items[index]


def tiny_config_dict(out_dir: str, **overrides: Any) -> dict[str, Any]:
    """A config dict for a tiny AVPC (ngf 4, 1 cycle, frozen trunk) on in-memory data."""
    config: dict[str, Any] = {
        "name": "tiny",
        "out_dir": out_dir,
        "seed": 0,
        "model": {
            "arch": "avpc",
            "config": {"visual": {"freeze_trunk": True}, "sound": {"ngf": 4, "train_cycles": 1}},
        },
        "data": {"frames": 1, "workers": 0},
        "optim": {"lr_sound": 1e-2, "lr_visual": 1e-2},
        "train": {"epochs": 2, "batch_size": 2, "log_every": 1},
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    return config


def write_tone_benchmark(folder: Path, count: int = 1) -> None:
    """A benchmark set (manifest.jsonl, mixes/, src/, vid/) of ``count`` ToneMixtures items."""
    data = ToneMixtures(count=count)
    for sub in ("mixes", "src", "vid"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    lines = []
    for i, item in enumerate(data.items):
        write_audio(folder / f"mixes/{i}.wav", item["mix"].numpy(), MODEL_RATE, "32f")
        sources = []
        for k, name in enumerate(item["instruments"]):
            write_audio(folder / f"src/{i}_{k}.wav", item["audios"][k].numpy(), MODEL_RATE, "32f")
            colour = np.clip((np.array(COLOURS[int(name[-1])]) + 2) * 60, 0, 255).astype(np.uint8)
            write_mp4(folder / f"vid/{i}_{k}.mp4", np.tile(colour, (48, 64, 64, 1)), fps=8.0)
            sources.append(
                {"instrument": name, "audio": f"src/{i}_{k}.wav", "video": f"vid/{i}_{k}.mp4"}
            )
        lines.append(json.dumps({"id": str(i), "mix": f"mixes/{i}.wav", "sources": sources}))
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def write_tiny_model_pair(folder: Path) -> tuple[Path, Path]:
    """Checkpoints of an untrained tiny AVPC and Sound-of-Pixels (frozen trunk at 32 px) in
    ``folder``, for benchmark scripts that compare a model with its baseline."""
    from avpc_plugin.checkpoints.format import save_checkpoint
    from avpc_plugin.nets import build_net

    torch.manual_seed(0)
    frozen = {"freeze_trunk": True, "trunk_input_size": 32}
    avpc = build_net("avpc", visual=frozen, sound={"ngf": 4, "train_cycles": 1})
    sop = build_net("sop", ngf=4, unet_levels=7, **frozen)
    return save_checkpoint(avpc, folder, "tiny-avpc"), save_checkpoint(sop, folder, "tiny-sop")
