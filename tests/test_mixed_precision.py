"""The nets and the training objectives under autocast, as CUDA runs them.

On CUDA the trainer runs each forward pass under bf16 autocast (``[hardware] bf16``, on by
default) and the Separator runs the model under float16 autocast. CI has no GPU, so these tests
run the same code under the CPU's autocast, which casts convolutions and matrix products to the
low precision and leaves the elementwise ops to type promotion, as CUDA's does: a mix of float32
and low-precision tensors that an op refuses (``torch.lerp`` takes one dtype) fails here as there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers_train import ToneMixtures
from test_video_decode import make_marker_video

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


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def low_precision(dtype: torch.dtype = torch.bfloat16) -> torch.autocast:
    return torch.autocast("cpu", dtype=dtype)


@pytest.mark.parametrize("map_size", [1, 2])
def test_pcnet_under_autocast_matches_float32(map_size: int) -> None:
    torch.manual_seed(0)
    net = build_net("pcnet", ngf=4, train_cycles=2, visual_map_size=map_size).eval()
    log_mag = torch.randn(2, 1, 256, 256)
    visual = torch.randn(2, 16, map_size, map_size)
    with torch.no_grad():
        exact = net(log_mag, visual)
        with low_precision():
            approx = net(log_mag, visual)
    assert approx.shape == exact.shape and torch.isfinite(approx).all()
    # bf16 keeps 8 bits of mantissa: the logits agree to a few percent of their spread
    error = (approx.float() - exact).abs().mean() / exact.std()
    assert error < 0.05, float(error)


@pytest.mark.parametrize("arch", ["avpc", "sop"])
def test_a_training_step_under_autocast_reaches_every_trained_parameter(arch: str) -> None:
    torch.manual_seed(0)
    model = build_net(arch, **SMALL[arch]).train()
    objective = SeparationObjective(model, LossSection())
    objective.to(memory_format=torch.channels_last)  # as the trainer does on CUDA
    batch = [ToneMixtures(count=2)[i] for i in range(2)]
    mix = torch.stack([item["mix"] for item in batch])
    audios = torch.stack([item["audios"] for item in batch])
    frames = torch.stack([item["frames"] for item in batch])
    with low_precision():
        out = objective(mix, audios, frames)
    assert out.logits.dtype == torch.float32 and torch.isfinite(out.loss)
    out.loss.backward()
    sound = [(n, p) for n, p in model.named_parameters() if n.startswith("sound_net.")]
    assert sound and all(p.grad is not None and torch.isfinite(p.grad).all() for _, p in sound)


def test_an_rcop_step_under_autocast_is_finite() -> None:
    torch.manual_seed(0)
    model = build_net("avpc", sound={"ngf": 4}).train()
    heads = RCoPHeads(pooled_size=2, proj_dim=4, pred_hidden=2)
    objective = RCoPObjective(model, heads)
    batch = [ToneMixtures(count=2)[i] for i in range(2)]
    with low_precision():
        out = objective(
            torch.stack([item["mix"] for item in batch]),
            torch.stack([item["audios"] for item in batch]),
            torch.stack([item["frames"] for item in batch]),
        )
    assert torch.isfinite(out.loss)
    out.loss.backward()


@pytest.mark.parametrize("arch", ["avpc", "sop"])
def test_the_separator_under_float16_autocast_matches_float32(arch: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_net(arch, **SMALL[arch]).eval()
    video = make_marker_video(tmp_path / "scene.mp4", frames=100)  # 4 s at 25 fps
    rng = np.random.default_rng(0)
    mix = (0.1 * rng.standard_normal((1, 3 * 11025))).astype(np.float32)  # 3 s
    stems = [
        StemQuery("left", video, box=(0, 0, 0.5, 1)),
        StemQuery("right", video, box=(0.5, 0, 0.5, 1)),
    ]
    separator = Separator(model, device="cpu")
    exact = separator.separate(mix, 11025, stems=stems).stems
    with low_precision(torch.float16):
        approx = separator.separate(mix, 11025, stems=stems).stems
    for name in ("left", "right"):
        assert np.isfinite(approx[name]).all()
        assert np.abs(approx[name] - exact[name]).mean() < 0.05 * np.abs(exact[name]).mean()
