"""Training throughput (mixtures per second) of AVPC and the Sound-of-Pixels baseline.

One optimizer step = front end (STFT, warp, targets) + forward + backward + AdamW, on synthetic
batches already in memory (data loading excluded), through the trainer's own objective. Runs
on the CPU and, when present, on CUDA (bf16 autocast, channels_last, as the trainer does there).

    python benchmarks/train_speed.py                 # small CPU config and the paper models
    python benchmarks/train_speed.py --steps 5 --repeats 5 --only small
    python benchmarks/train_speed.py --device cuda   # the GPU rows alone (no CPU warm-up)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from avpc_plugin.audio.stft import CLIP_SAMPLES
from avpc_plugin.device import MEASURE_CHOICES, devices_to_measure
from avpc_plugin.nets import build_net
from avpc_plugin.train.config import LossSection, load_config
from avpc_plugin.train.objective import SeparationObjective

SMALL_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "avpc_small_cpu.toml"
"""The small CPU training config; its model and frames per source are what "small" measures."""


def _small_model() -> tuple[str, dict[str, Any], int]:
    config = load_config(SMALL_CONFIG, check_data=False)
    return config.model.arch, config.model.config, config.data.frames


MODELS: dict[str, tuple[str, dict[str, Any], int]] = {
    # name: (arch, config, frames per source)
    "small": _small_model(),
    "avpc-paper": ("avpc", {"sound": {"ngf": 64, "train_cycles": 4}}, 3),
    "sop": ("sop", {}, 3),
}


def measure(name: str, device: torch.device, batch: int, steps: int, repeats: int) -> list[float]:
    """Mixtures per second of each of ``repeats`` runs of ``steps`` timed training steps (after
    one warm-up step); a shared 2-core machine varies by 10 % from run to run."""
    arch, config, frames = MODELS[name]
    model = build_net(arch, **config).to(device)
    cuda = device.type == "cuda"
    objective = SeparationObjective(model, LossSection(), bf16=cuda).to(device).train()
    if cuda:
        objective.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.param_groups(1e-3, 1e-4), weight_decay=1e-2)  # type: ignore[operator]
    audios = torch.rand(batch, 2, CLIP_SAMPLES, device=device) - 0.5
    mix = audios.mean(dim=1)
    images = torch.randn(batch, 2, 3, frames, 224, 224, device=device)

    def step() -> None:
        loss = objective(mix, audios, images).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    rates = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if cuda:
            torch.cuda.synchronize()
        rates.append(batch * steps / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is reported")
    parser.add_argument("--cpu-batch", type=int, default=8)
    parser.add_argument("--gpu-batch", type=int, default=64)
    parser.add_argument("--only", choices=sorted(MODELS), action="append")
    parser.add_argument(
        "--device",
        choices=MEASURE_CHOICES,
        default="all",
        help="'all' (default) = CPU, plus CUDA when present",
    )
    args = parser.parse_args()
    try:
        devices = devices_to_measure(args.device)
    except ValueError as err:
        parser.error(str(err))
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}")
    for device in devices:
        batch = args.gpu_batch if device.type == "cuda" else args.cpu_batch
        for name in args.only or list(MODELS):
            rates = measure(name, device, batch, args.steps, args.repeats)
            print(
                f"{device.type:5s} {name:11s} batch {batch:3d}: "
                f"{statistics.median(rates):8.2f} mixtures/s (median of {len(rates)}; "
                f"{min(rates):.2f} to {max(rates):.2f})"
            )


if __name__ == "__main__":
    main()
