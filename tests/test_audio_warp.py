"""Log-frequency warp: the reference's sampling grid, invariants and warp / un-warp round trip."""

import math

import pytest
import torch
import torch.nn.functional as F

from avpc_plugin.audio.warp import (
    _warp_plan,
    linear_bin_positions,
    unwarp_from_log_freq,
    warp_to_log_freq,
    warped_row_positions,
)


def reference_warp_grid(batch: int, rows: int, frames: int) -> torch.Tensor:
    """The reference's ``warpgrid(batch, rows, frames, warp=True)``, written from its formula."""
    x = torch.linspace(-1, 1, frames, dtype=torch.float64)
    y = torch.linspace(-1, 1, rows, dtype=torch.float64)
    grid_y = (21 ** ((y + 1) / 2) - 11) / 10
    grid = torch.stack(torch.broadcast_tensors(x[None, :], grid_y[:, None]), dim=-1)
    return grid.expand(batch, rows, frames, 2)


def test_row_positions_span_the_band_log_spaced() -> None:
    positions = warped_row_positions(512, 256)
    assert positions[0].item() == pytest.approx(-0.5)
    assert positions[-1].item() == pytest.approx(511.5)
    spacing = positions.diff()
    assert (spacing.diff() > 0).all()  # spacing grows with frequency
    assert spacing[0].item() == pytest.approx(0.3078, abs=1e-3)
    assert spacing[-1].item() == pytest.approx(6.3804, abs=1e-3)


@pytest.mark.parametrize("frames", [1, 7, 256])
@pytest.mark.parametrize("batch", [1, 3])
def test_shapes_for_any_number_of_frames(batch: int, frames: int) -> None:
    mag = torch.rand(batch, 2, 512, frames)
    warped = warp_to_log_freq(mag)
    assert warped.shape == (batch, 2, 256, frames)
    assert unwarp_from_log_freq(warped).shape == (batch, 2, 512, frames)


def test_matches_bilinear_grid_sample_on_the_reference_frequency_grid() -> None:
    frames = 40
    mag = torch.rand(2, 3, 512, frames, dtype=torch.float64)
    grid = reference_warp_grid(2, 256, frames).clone()
    grid[..., 0] = (2 * torch.arange(frames, dtype=torch.float64) + 1) / frames - 1  # frame centres
    expected = F.grid_sample(mag, grid, mode="bilinear", padding_mode="border", align_corners=False)
    assert torch.allclose(warp_to_log_freq(mag), expected, atol=1e-12)


def test_equals_the_reference_warp_away_from_its_zero_padded_edges() -> None:
    # On a field constant in time the reference's time resampling is invisible; it differs only
    # where its grid reads zero padding (rows 0, 1 and 255, first and last frame).
    frames = 16
    mag = torch.rand(1, 1, 512, 1, dtype=torch.float64).expand(-1, -1, -1, frames)
    reference = F.grid_sample(mag, reference_warp_grid(1, 256, frames), align_corners=False)
    ours = warp_to_log_freq(mag)
    assert torch.allclose(ours[..., 2:255, 1:-1], reference[..., 2:255, 1:-1], atol=1e-12)


def test_field_constant_in_frequency_stays_constant() -> None:
    per_frame = torch.randn(3, 2, 1, 50, dtype=torch.float64)
    field = per_frame.expand(-1, -1, 512, -1)
    warped = warp_to_log_freq(field)
    assert torch.allclose(warped, per_frame.expand_as(warped), atol=1e-12)
    back = unwarp_from_log_freq(warped)
    assert torch.allclose(back, field, atol=1e-12)


def test_field_linear_in_frequency_round_trips_exactly() -> None:
    bins = torch.arange(512, dtype=torch.float64)[:, None]
    field = (0.01 * bins + 1) * torch.rand(1, 30, dtype=torch.float64)
    assert torch.allclose(unwarp_from_log_freq(warp_to_log_freq(field)), field, atol=1e-12)


def test_smooth_field_round_trips_within_the_interpolation_bound() -> None:
    # Warp then un-warp gives the linear interpolant of the field through the positions the rows
    # sampled, which errs by at most h^2 / 8 * max|f''| at row spacing h. The widest rows (6.38
    # bins, near Nyquist) dominate: for one sine cycle of amplitude 0.5 across the band the bound
    # is 6.38^2 / 8 * 0.5 * (2 pi / 512)^2 = 3.8e-4 (measured: 2.2e-4). Near DC, rows are 0.31
    # bins apart and both steps interpolate at spacing <= 1 bin, far inside the bound.
    bins = torch.arange(512, dtype=torch.float64)[:, None]
    frames = torch.arange(256, dtype=torch.float64)[None, :]
    omega = 2 * math.pi / 512
    field = 1 + 0.5 * torch.sin(omega * bins + 0.3) * torch.cos(2 * math.pi * 3 * frames / 256)
    widest = warped_row_positions(512, 256).clamp(0, 511).diff().max().item()
    bound = widest**2 / 8 * 0.5 * omega**2
    error = (unwarp_from_log_freq(warp_to_log_freq(field[None, None])) - field).abs().max().item()
    assert error <= bound
    assert bound < 4e-4


def test_unwarp_inverts_the_warp_sampling_map() -> None:
    rows = linear_bin_positions(256, 512)
    assert rows[0].item() == pytest.approx(1.0)  # rows 0 and 1 both read bin 0 (edge clamp)
    assert rows[-1].item() == pytest.approx(255.0)
    assert (rows.diff() >= 0).all()
    # Interpolating the warp's sampled bin positions at those rows gives back every bin.
    sampled = warped_row_positions(512, 256).clamp(0, 511)
    bins = torch.arange(512, dtype=torch.float64)
    assert torch.allclose(unwarp_from_log_freq(sampled[:, None])[:, 0], bins)


def test_unwarped_masks_that_sum_to_one_still_do() -> None:
    masks = torch.softmax(torch.randn(2, 3, 256, 20, dtype=torch.float64), dim=1)
    linear = unwarp_from_log_freq(masks)
    assert torch.allclose(linear.sum(dim=1), torch.ones(2, 512, 20, dtype=torch.float64))
    assert linear.min() >= masks.min() and linear.max() <= masks.max()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_and_dtype_follow_the_input(dtype: torch.dtype) -> None:
    mag = torch.rand(1, 1, 512, 5, dtype=dtype)
    for out in (warp_to_log_freq(mag), unwarp_from_log_freq(mag[..., :256, :])):
        assert out.dtype == dtype and out.device == mag.device


def test_gradients_flow_even_when_plans_were_cached_in_inference_mode() -> None:
    _warp_plan.cache_clear()
    with torch.inference_mode():
        warp_to_log_freq(torch.rand(1, 1, 512, 3))
    mag = torch.rand(1, 1, 512, 3, requires_grad=True)
    unwarp_from_log_freq(warp_to_log_freq(mag)).sum().backward()
    assert mag.grad is not None and mag.grad.abs().sum() > 0


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="mag: expected a real floating-point tensor"):
        warp_to_log_freq(torch.rand(512))
    with pytest.raises(ValueError, match="x: expected a real floating-point tensor"):
        unwarp_from_log_freq(torch.ones(1, 256, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="out_bins"):
        warp_to_log_freq(torch.rand(1, 512, 4), out_bins=1)
