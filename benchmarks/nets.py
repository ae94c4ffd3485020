"""Size and speed of the sound nets: parameters, MACs and forward time at 1 x 256 x 256.

Measures PCNet (ngf 16/32/64, 1-8 cycles, trained with as many cycles as it runs) and the
Sound-of-Pixels U-Net baseline on the CPU (threads set by --threads) and on CUDA when present.
With --reference PATH (the reference implementation's ``avpc/models/audio_net.py``, from a
checkout you have), the reference PCNetLR at ngf 64 / 4 cycles is timed in the same run, so the
two are compared side by side on the same machine.

Usage:
    python benchmarks/nets.py [--threads 2] [--repeats 5] [--device cpu|cuda|all]
                              [--reference PATH] [--json OUT.json]
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from avpc_plugin.device import MEASURE_CHOICES, devices_to_measure
from avpc_plugin.nets import build_net
from avpc_plugin.nets.sop import SoundOfPixels

SPEC_SHAPE = (1, 1, 256, 256)
"""One log-frequency spectrogram: batch 1, 1 channel, 256 bins x 256 frames."""


@dataclass
class Row:
    """One benchmark result."""

    net: str
    ngf: int
    cycles: int | None
    device: str
    params: int
    gmacs: float
    forward_ms: float


def count_macs(run: Callable[[], torch.Tensor]) -> float:
    """Multiply-accumulates of one call of ``run``, in GMAC (FLOPs / 2, convs and matmuls)."""
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() / 2 / 1e9


def time_forward(run: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> float:
    """Median wall time of ``run`` in milliseconds, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(
    name: str,
    net: nn.Module,
    run: Callable[[], torch.Tensor],
    ngf: int,
    cycles: int | None,
    device: torch.device,
    repeats: int,
) -> Row:
    """Parameters, MACs and forward time of ``net`` called through ``run`` (eval, no grad)."""
    with torch.inference_mode():
        macs = count_macs(run)
        forward_ms = time_forward(run, device, repeats)
    params = sum(p.numel() for p in net.parameters())
    return Row(name, ngf, cycles, device.type, params, round(macs, 2), round(forward_ms, 1))


def pcnet_row(ngf: int, cycles: int, device: torch.device, repeats: int) -> Row:
    net = build_net("pcnet", ngf=ngf, train_cycles=cycles).to(device).eval()
    spec = torch.randn(SPEC_SHAPE, device=device)
    visual = torch.randn(1, 16, 2, 2, device=device)
    return measure("pcnet", net, lambda: net(spec, visual), ngf, cycles, device, repeats)


def unet_row(device: torch.device, repeats: int) -> Row:
    model = SoundOfPixels()
    unet = model.sound_net.to(device).eval()
    spec = torch.randn(SPEC_SHAPE, device=device)
    ngf = int(model.config["ngf"])
    return measure("sop-unet", unet, lambda: unet(spec), ngf, None, device, repeats)


def reference_row(path: Path, device: torch.device, repeats: int) -> Row:
    """Time the reference implementation's PCNetLR (ngf 64, 4 cycles) from a file you have."""
    spec_ = importlib.util.spec_from_file_location("reference_audio_net", path)
    if spec_ is None or spec_.loader is None:
        raise click.BadParameter(f"cannot import {path}", param_hint="--reference")
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    net = module.PCNetLR(cycs_in=4, ngf=64, fc_vis=16, n_fm_out=1).to(device).eval()
    spec = torch.randn(SPEC_SHAPE, device=device)
    visual = torch.randn(1, 16, 2, 2, device=device)
    return measure("reference PCNetLR", net, lambda: net(spec, visual), 64, 4, device, repeats)


def markdown(rows: list[Row]) -> str:
    lines = [
        "| net | ngf | cycles | device | parameters | GMAC | forward (ms) |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        cycles = "-" if r.cycles is None else str(r.cycles)
        lines.append(
            f"| {r.net} | {r.ngf} | {cycles} | {r.device} | {r.params:,} | {r.gmacs:.2f} "
            f"| {r.forward_ms:.1f} |"
        )
    return "\n".join(lines)


@click.command()
@click.option("--threads", type=int, default=2, show_default=True, help="CPU threads for torch.")
@click.option("--repeats", type=int, default=5, show_default=True, help="Timed calls per net.")
@click.option(
    "--device",
    "devices",
    type=click.Choice(MEASURE_CHOICES),
    default="all",
    show_default=True,
    help="'all' = CPU, plus CUDA when present.",
)
@click.option("--ngf", "ngfs", type=int, multiple=True, default=(16, 32, 64), show_default=True)
@click.option("--max-cycles", type=int, default=8, show_default=True)
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The reference implementation's avpc/models/audio_net.py, timed side by side.",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
def main(
    threads: int,
    repeats: int,
    devices: str,
    ngfs: tuple[int, ...],
    max_cycles: int,
    reference: Path | None,
    json_out: Path | None,
) -> None:
    """Parameters, MACs and forward time of PCNet and the U-Net baseline."""
    torch.set_num_threads(threads)
    try:
        targets = devices_to_measure(devices)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    click.echo(
        f"# {platform.processor() or platform.machine()}, {threads} torch threads, "
        f"torch {torch.__version__}"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
    )
    rows: list[Row] = []
    for device in targets:
        if reference is not None:
            rows.append(reference_row(reference, device, repeats))
        for ngf in ngfs:
            for cycles in range(1, max_cycles + 1):
                rows.append(pcnet_row(ngf, cycles, device, repeats))
        rows.append(unet_row(device, repeats))
    click.echo(markdown(rows))
    if json_out is not None:
        json_out.write_text(json.dumps([asdict(r) for r in rows], indent=1))


if __name__ == "__main__":
    main()
