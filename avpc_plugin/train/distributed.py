"""Data-parallel training under ``torchrun``: process group, device per rank, sharding, reductions.

One code path for every case: a plain ``avpc train`` is world size 1 (no process group); under
``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every rank joins a process group, NCCL when
its device is CUDA, gloo on the CPU, one node or many (torchrun sets ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` / ``MASTER_PORT``).
"""

from __future__ import annotations

import os
from collections.abc import Sized
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

from avpc_plugin.device import resolve_device


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in the job.

    Attributes:
        rank: global rank (0 .. world_size - 1).
        local_rank: rank on this node (picks the CUDA device).
        world_size: processes in the job.
        device: this rank's device.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that logs, plots and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | torch.device | None = None) -> DistributedContext:
    """Join the ``torchrun`` process group if there is one; pick this rank's device.

    Args:
        device: ``None`` / ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``; under torchrun
            a CUDA device becomes ``cuda:LOCAL_RANK``.

    Returns:
        The context; world size 1 when not launched by torchrun.
    """
    chosen = resolve_device(device)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext(device=chosen)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistributedContext(rank, local_rank, world_size, chosen)


def shutdown_distributed(wait_for_peers: bool = True) -> None:
    """Leave the process group (no-op when there is none).

    Args:
        wait_for_peers: meet every rank at a barrier first, so that no rank tears its connections
            down while a peer is still using them (a gloo rank can abort in teardown otherwise).
            Pass False on an error path, where a peer may never arrive.
    """
    if dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()


def wrap_model(model: nn.Module, ctx: DistributedContext) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` when distributed, else ``model`` itself."""
    if not ctx.distributed:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def train_sampler(dataset: Dataset[Any], ctx: DistributedContext, seed: int) -> DistributedSampler:
    """This rank's shard of a shuffled epoch (``set_epoch`` reshuffles); drops the ragged tail so
    every rank steps the same number of times."""
    return DistributedSampler(
        dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed, drop_last=True
    )


def shard_indices(dataset: Sized, ctx: DistributedContext) -> list[int]:
    """Indices ``rank, rank + world, ...``: every item on exactly one rank (validation)."""
    return list(range(ctx.rank, len(dataset), ctx.world_size))


def all_reduce_sum(values: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """Sum a tensor over ranks (a copy; identity when not distributed)."""
    total = values.detach().to(ctx.device, copy=True)
    if ctx.distributed:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def gather_lists(items: list[Any], ctx: DistributedContext) -> list[Any]:
    """Concatenate every rank's list of picklable items (rank order); identity when not
    distributed."""
    if not ctx.distributed:
        return list(items)
    gathered: list[list[Any] | None] = [None] * ctx.world_size
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in (part or [])]


def barrier(ctx: DistributedContext) -> None:
    """Wait for every rank (no-op when not distributed)."""
    if ctx.distributed:
        dist.barrier()
