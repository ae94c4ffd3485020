"""The training and validation datasets a config names, and their loaders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from avpc_plugin.data.cache import CachedMixSeparateDataset, ClipCache, ensure_cache
from avpc_plugin.data.clips import SoloClip
from avpc_plugin.data.datasets import read_clips
from avpc_plugin.data.frames import normalize_frames
from avpc_plugin.train.config import ConfigError, TrainConfig
from avpc_plugin.train.distributed import (
    DistributedContext,
    barrier,
    shard_indices,
    train_sampler,
)

RCOP_SOURCES = 3
"""RCoP pre-training draws three solos A, B, C per item."""


def build_datasets(
    config: TrainConfig, ctx: DistributedContext | None = None
) -> tuple[Dataset[Any], Dataset[Any]]:
    """``(train, val)`` mix-and-separate datasets of a config (RCoP: 3-source training items).

    Both read pre-decoded caches (memory-mapped audio, uint8 frames: see
    :mod:`avpc_plugin.data.cache`) under ``[data] cache`` (default ``<out_dir>/cache``), built on
    first use by the main rank while the others wait. Items carry uint8 frames;
    :func:`batch_to_device` normalises them on the training device. Validation mixtures are fixed
    (they depend only on the seed and the index).
    """
    data = config.data
    common: dict[str, Any] = {
        "num_frames": data.frames,
        "stride_frames": data.frame_stride,
        "normalize": False,
    }
    train = _split_dataset(
        config,
        "train",
        ctx,
        n_sources=RCOP_SOURCES if config.stage == "rcop" else data.sources,
        train=True,
        length=data.train_items or None,
        frame_augment=data.frame_augment,
        audio_augment=data.audio_augment,
        **common,
    )
    val = _split_dataset(
        config,
        "val",
        ctx,
        n_sources=data.val_sources,
        train=False,
        seed=config.seed,
        length=data.val_items or None,
        **common,
    )
    return train, val


def _split_dataset(
    config: TrainConfig, split: str, ctx: DistributedContext | None, **options: Any
) -> CachedMixSeparateDataset:
    """The cached dataset of ``[data] <split>`` ("train" or "val"; ``options`` go to
    :class:`~avpc_plugin.data.cache.CachedMixSeparateDataset`).

    Raises:
        ConfigError: the split's clips cannot make mixtures (none readable, fewer recordings than
            sources per mixture, ...), naming the key and the folder.
    """
    data = config.data
    path, index = (data.train, data.train_index) if split == "train" else (data.val, data.val_index)
    cache_root = data.cache or config.out_dir / "cache"
    try:
        clips = read_clips(path, index)
        cache = _shared_cache(clips, cache_root / split, data.fps, data.image_size, ctx)
        return CachedMixSeparateDataset(cache, **options)
    except (ValueError, FileNotFoundError) as err:
        where = f"{config.source}: " if config.source is not None else ""
        raise ConfigError(f"{where}[data] {split} ({path}): {err}") from err


def _shared_cache(
    clips: list[SoloClip],
    folder: Path,
    fps: float,
    image_size: int,
    ctx: DistributedContext | None,
) -> ClipCache:
    """The cache of ``clips`` in ``folder`` (frames for ``image_size`` px): built (if needed) by
    the main rank only."""
    if ctx is None or ctx.is_main:
        cache = ensure_cache(clips, folder, fps=fps, image_size=image_size)
    if ctx is not None:
        barrier(ctx)
        if not ctx.is_main:
            cache = ClipCache(folder).select(clips)
    return cache


def batch_to_device(batch: dict[str, Any], device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """``(mix (B, L), audios (B, N, L), frames (B, N, 3, T, H, W))`` on ``device``; uint8 frames
    (from the caches) are ImageNet-normalised there, float frames are taken as they are."""
    mix = batch["mix"].to(device, non_blocking=True)
    audios = batch["audios"].to(device, non_blocking=True)
    frames = batch["frames"].to(device, non_blocking=True)
    if frames.dtype == torch.uint8:
        frames = normalize_frames(frames)
    return mix, audios, frames


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


def instrument_classes(dataset: Dataset[Any]) -> list[str]:
    """The sorted instrument names of a mix-and-separate dataset's clips (its ``clips``)."""
    clips = getattr(dataset, "clips", None)
    if not clips:
        raise ValueError("dataset: expected a mix-and-separate dataset with a list of clips")
    return sorted({clip.instrument for clip in clips})


def objective_inputs(
    batch: dict[str, Any], device: torch.device, classes: Sequence[str] | None = None
) -> tuple[Tensor, ...]:
    """An objective's arguments from a batch: ``mix, audios, frames`` on ``device``
    (:func:`batch_to_device`) and, given the classes of a visual pre-training stage, the
    ``(B, N)`` instrument labels (:func:`instrument_labels`)."""
    tensors = batch_to_device(batch, device)
    if classes is None:
        return tensors
    return (*tensors, instrument_labels(batch["instruments"], classes, device))


def instrument_labels(
    instruments: Sequence[Sequence[str]], classes: Sequence[str], device: torch.device
) -> Tensor:
    """Class indices ``(B, N)`` (int64) of a batch's ``instruments``; -1 for one not in classes."""
    index = {name: k for k, name in enumerate(classes)}
    rows = [[index.get(name, -1) for name in item] for item in instruments]
    return torch.tensor(rows, dtype=torch.long, device=device)
