"""The nets, the training objectives and the Separator in low precision, as CUDA runs them.

On CUDA the trainer runs each forward pass under bf16 autocast (``[hardware] bf16``, on by
default) and the Separator runs the model under float16 autocast (``amp``, on by default). CI has
no GPU, so on the CPU these tests wrap the same code in the CPU's autocast, which casts
convolutions and matrix products to the low precision and leaves elementwise ops to type
promotion, as CUDA's does: a mix of float32 and low-precision tensors that an op refuses
(``torch.lerp`` takes one dtype) fails here as there. Where a GPU is present the tests also run
on it, through the product's own autocast (``benchmarks/gpu_checks.sh`` runs them first on a GPU
machine).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers_train import ToneMixtures
from helpers_video import make_marker_video
from torch import Tensor

from avpc_plugin.nets import build_net
from avpc_plugin.nets.rcop import RCoPHeads
from avpc_plugin.separate import Separator, StemQuery
from avpc_plugin.train.config import LossSection
from avpc_plugin.train.objective import RCoPObjective, SeparationObjective

SMALL: dict[str, dict[str, Any]] = {
    "avpc": {"sound": {"ngf": 4}},
    "sop": {"ngf": 4, "feature_channels": 3, "unet_levels": 7},
}
"""Net configs small enough for a CPU test; the layers are the full nets'."""


pytestmark = pytest.mark.usefixtures("one_thread")


DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    ),
]


def low_precision(device: str, dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
    """The CPU's autocast in ``dtype``; on CUDA nothing: the code under test brings its own."""
    return torch.autocast("cpu", dtype=dtype) if device == "cpu" else contextlib.nullcontext()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("map_size", [1, 2])
def test_pcnet_under_autocast_matches_float32(map_size: int, device: str) -> None:
    torch.manual_seed(0)
    net = build_net("pcnet", ngf=4, train_cycles=2, visual_map_size=map_size).eval().to(device)
    log_mag = torch.randn(2, 1, 256, 256, device=device)
    visual = torch.randn(2, 16, map_size, map_size, device=device)
    with torch.no_grad():
        exact = net(log_mag, visual)
        with torch.autocast(device, dtype=torch.bfloat16):
            approx = net(log_mag, visual)
    assert approx.shape == exact.shape and torch.isfinite(approx).all()
    # bf16 keeps 8 bits of mantissa: the logits agree to a few percent of their spread
    error = (approx.float() - exact).abs().mean() / exact.std()
    assert error < 0.05, float(error)


def tone_batch(device: str) -> tuple[Tensor, Tensor, Tensor]:
    """Two tone mixtures: mix (2, L), audios (2, 2, L), frames (2, 2, 3, 1, 224, 224)."""
    items = [ToneMixtures(count=2)[i] for i in range(2)]

    def stacked(key: str) -> Tensor:
        return torch.stack([item[key] for item in items]).to(device)

    return stacked("mix"), stacked("audios"), stacked("frames")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", ["avpc", "sop"])
def test_a_training_step_under_autocast_gives_finite_sound_net_gradients(
    arch: str, device: str
) -> None:
    torch.manual_seed(0)
    model = build_net(arch, **SMALL[arch]).train()
    objective = SeparationObjective(model, LossSection(), bf16=True).to(device)
    objective.to(memory_format=torch.channels_last)  # as the trainer does on CUDA
    with low_precision(device, torch.bfloat16):
        out = objective(*tone_batch(device))
    assert out.logits.dtype == torch.float32 and torch.isfinite(out.loss)
    out.loss.backward()
    sound = [(n, p) for n, p in model.named_parameters() if n.startswith("sound_net.")]
    assert sound and all(p.grad is not None and torch.isfinite(p.grad).all() for _, p in sound)


@pytest.mark.parametrize("device", DEVICES)
def test_an_rcop_step_under_autocast_is_finite(device: str) -> None:
    torch.manual_seed(0)
    model = build_net("avpc", **SMALL["avpc"]).train()
    heads = RCoPHeads(pooled_size=2, proj_dim=4, pred_hidden=2)
    objective = RCoPObjective(model, heads, bf16=True).to(device)
    with low_precision(device, torch.bfloat16):
        out = objective(*tone_batch(device))
    assert torch.isfinite(out.loss)
    out.loss.backward()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", ["avpc", "sop"])
def test_the_separator_under_float16_autocast_matches_float32(
    arch: str, device: str, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = build_net(arch, **SMALL[arch]).eval()
    video = make_marker_video(tmp_path / "scene.mp4", frames=100)  # 4 s at 25 fps
    rng = np.random.default_rng(0)
    mix = (0.1 * rng.standard_normal((1, 3 * 11025))).astype(np.float32)  # 3 s
    stems = [
        StemQuery("left", video, box=(0, 0, 0.5, 1)),
        StemQuery("right", video, box=(0.5, 0, 0.5, 1)),
    ]
    exact = Separator(model, device=device, amp=False).separate(mix, 11025, stems=stems).stems
    with low_precision(device, torch.float16):
        approx = Separator(model, device=device).separate(mix, 11025, stems=stems).stems
    for name in ("left", "right"):
        assert np.isfinite(approx[name]).all()
        assert np.abs(approx[name] - exact[name]).mean() < 0.05 * np.abs(exact[name]).mean()
