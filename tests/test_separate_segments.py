"""Window plan, overlap-add and the full-rate mask mapping."""

from __future__ import annotations

import pytest
import torch

from avpc_plugin.audio.stft import CLIP_FRAMES, CLIP_SAMPLES, FREQ_BINS, HOP, MODEL_RATE
from avpc_plugin.separate.fullrate import (
    FullRateRenderer,
    full_rate_stft_config,
    masks_to_full_rate,
)
from avpc_plugin.separate.segments import OverlapAdd, WindowPlan, overlap_weights


def test_plan_covers_every_frame() -> None:
    assert WindowPlan(10).num_windows == 1
    assert WindowPlan(CLIP_SAMPLES).num_windows == 1  # 256 frames exactly
    plan = WindowPlan.with_overlap(CLIP_SAMPLES + HOP)  # one frame more
    assert plan.num_windows == 2 and plan.hop_frames == 128
    long = WindowPlan.with_overlap(10 * CLIP_SAMPLES + 1234)
    last = long.num_windows - 1
    assert long.first_frame(last) + CLIP_FRAMES >= long.total_frames
    assert long.first_frame(last - 1) + CLIP_FRAMES < long.total_frames


def test_frame_times_follow_the_reference() -> None:
    plan = WindowPlan(10 * CLIP_SAMPLES)
    centre = CLIP_SAMPLES / 2 / MODEL_RATE  # 2.972 s
    assert plan.frame_times(0) == pytest.approx([centre - 3, centre, centre + 3])
    assert plan.centre_time(2) == pytest.approx(centre + 2 * 128 * HOP / MODEL_RATE)


def test_weights_are_positive_and_sum_to_one_at_half_overlap() -> None:
    w = overlap_weights()
    assert w.min() > 0
    torch.testing.assert_close(w[:128] + w[128:], torch.ones(128))


@pytest.mark.parametrize("overlap", [0.0, 0.5, 0.75, 0.3])
def test_overlap_add_of_constant_masks_is_exactly_one(overlap: float) -> None:
    plan = WindowPlan.with_overlap(7 * CLIP_SAMPLES + 999, overlap)
    blend = OverlapAdd(plan)
    pieces = []
    for window in range(plan.num_windows):
        blend.add(window, torch.ones(2, 3, CLIP_FRAMES))
        first, part = blend.pop()
        assert first == sum(p.shape[-1] for p in pieces)
        pieces.append(part)
    total = torch.cat(pieces, dim=-1)
    assert total.shape == (2, 3, plan.total_frames)
    assert (total - 1).abs().max() < 1e-6


def test_overlap_add_reproduces_a_signal_on_the_grid() -> None:
    plan = WindowPlan.with_overlap(4 * CLIP_SAMPLES)
    truth = torch.rand(1, 2, plan.total_frames + CLIP_FRAMES)
    blend = OverlapAdd(plan)
    for window in range(plan.num_windows):
        first = plan.first_frame(window)
        blend.add(window, truth[..., first : first + CLIP_FRAMES])
    _, out = blend.pop()
    torch.testing.assert_close(out, truth[..., : plan.total_frames])


def test_full_rate_config() -> None:
    config = full_rate_stft_config(44100)
    assert (config.n_fft, config.hop) == (4096, 1024)
    assert full_rate_stft_config(11025).hop == HOP


def test_full_rate_frames_fall_on_model_frames_at_44k() -> None:
    masks = torch.rand(2, FREQ_BINS, 40)
    config = full_rate_stft_config(44100)
    out = masks_to_full_rate(masks, 10, torch.arange(10, 50), config, 44100)
    assert out.shape == (2, config.bins, 40)
    # full-rate bin 4k sits at model bin (4k * 44100 / 4096) * 1022 / 11025 = k * 3.992...; bin 0
    torch.testing.assert_close(out[:, 0], masks[:, 0])


def test_full_rate_frequency_mapping_and_high_band_rules() -> None:
    below_1k = (torch.arange(FREQ_BINS) * MODEL_RATE / (FREQ_BINS * 2 - 2) < 1000).float()
    masks = below_1k.view(1, -1, 1).expand(1, FREQ_BINS, 3).clone()
    for rate in (44100, 48000):
        config = full_rate_stft_config(rate)
        hz = torch.arange(config.bins) * rate / config.n_fft
        out = masks_to_full_rate(masks, 0, torch.arange(3), config, rate)[0, :, 1]
        assert (out[hz < 990] == 1).all() and (out[hz > 1010] == 0).all()
        top = torch.ones(1, FREQ_BINS, 3)
        top[:, -1] = 0.25
        above = hz > MODEL_RATE / 2
        for rule, value in (("top_bin", 0.25), ("zero", 0.0), ("one", 1.0)):
            mapped = masks_to_full_rate(top, 0, torch.arange(3), config, rate, rule)  # type: ignore[arg-type]
            assert (mapped[0, above] == value).all()


@pytest.mark.parametrize("rate", [44100, 48000])
def test_blocks_join_without_seams(rate: int) -> None:
    length = 2 * rate + 77
    audio = torch.randn(2, length)
    model_frames = 1 + (-(-length * MODEL_RATE // rate)) // HOP
    masks = torch.rand(2, FREQ_BINS, model_frames)
    whole = FullRateRenderer(rate, length, model_frames, block_seconds=100.0)
    small = FullRateRenderer(rate, length, model_frames, block_seconds=0.45)

    def render(renderer: FullRateRenderer) -> torch.Tensor:
        parts = []
        for start, stop in renderer.blocks():
            first, last = renderer.input_span(start, stop)
            lo, hi = renderer.model_frames_needed(start, stop)
            parts.append(
                renderer.render(audio[:, first:last], first, start, stop, masks[..., lo:hi], lo)
            )
        return torch.cat(parts, dim=-1)

    one, many = render(whole), render(small)
    assert one.shape == (2, 2, length)
    torch.testing.assert_close(many, one, atol=1e-5, rtol=0)
