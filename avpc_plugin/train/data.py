"""The training and validation datasets a config names, and their loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from avpc_plugin.data.datasets import (
    MixSeparateDataset,
    SoloClip,
    clips_from_corpus,
    clips_from_music_csv,
)
from avpc_plugin.train.config import TrainConfig
from avpc_plugin.train.distributed import DistributedContext, shard_indices, train_sampler

RCOP_SOURCES = 3
"""RCoP pre-training draws three solos A, B, C per item."""


def read_clips(path: Path) -> list[SoloClip]:
    """Solo clips of a corpus folder (``index.jsonl``) or a MUSIC-layout CSV index."""
    return clips_from_corpus(path) if path.is_dir() else clips_from_music_csv(path)


def build_datasets(config: TrainConfig) -> tuple[Dataset[Any], Dataset[Any]]:
    """``(train, val)`` mix-and-separate datasets of a config (RCoP: 3-source training items).

    Validation mixtures are fixed (they depend only on the seed and the index).
    """
    data = config.data
    train_clips, val_clips = read_clips(data.train), read_clips(data.val)
    train = MixSeparateDataset(
        train_clips,
        n_sources=RCOP_SOURCES if config.stage == "rcop" else data.sources,
        train=True,
        length=data.train_items or None,
        num_frames=data.frames,
        stride_frames=data.frame_stride,
        fps=data.fps,
    )
    val = MixSeparateDataset(
        val_clips,
        n_sources=data.val_sources,
        train=False,
        seed=config.seed,
        length=data.val_items or None,
        num_frames=data.frames,
        stride_frames=data.frame_stride,
        fps=data.fps,
    )
    return train, val


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the tensors of a list of items; ``instruments`` stays a list of per-item lists."""
    batch: dict[str, Any] = {
        key: torch.stack([item[key] for item in items]) for key in ("mix", "audios", "frames")
    }
    batch["instruments"] = [list(item.get("instruments", [])) for item in items]
    return batch


def make_loaders(
    train: Dataset[Any],
    val: Dataset[Any],
    ctx: DistributedContext,
    per_rank_batch: int,
    workers: int,
    seed: int,
    pin_memory: bool,
) -> tuple[DataLoader[Any], DataLoader[Any]]:
    """This rank's training loader (sharded, shuffled per epoch via ``sampler.set_epoch``) and
    validation loader (every item on exactly one rank)."""
    options: dict[str, Any] = {
        "batch_size": per_rank_batch,
        "num_workers": workers,
        "pin_memory": pin_memory and ctx.device.type == "cuda",
        "collate_fn": _collate,
        "persistent_workers": False,
    }
    train_loader = DataLoader(
        train, sampler=train_sampler(train, ctx, seed), drop_last=True, **options
    )
    val_loader = DataLoader(Subset(val, shard_indices(val, ctx)), shuffle=False, **options)  # type: ignore[arg-type]
    return train_loader, val_loader
