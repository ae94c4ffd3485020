"""Mask targets, oracle masks, applying masks, and the weighted mask losses (known answers)."""

import math

import pytest
import torch
import torch.nn.functional as F

from avpc_plugin.audio.losses import (
    mask_loss_weight,
    weighted_bce_with_logits,
    weighted_ratio_loss,
)
from avpc_plugin.audio.masks import (
    apply_mask,
    binary_mask_target,
    ideal_binary_mask,
    ideal_ratio_mask,
    ratio_mask_target,
)

LN2 = math.log(2.0)


def as_bnft(values: list[list[float]]) -> torch.Tensor:
    """A hand-written (F, T) grid as a (1, 1, F, T) tensor."""
    return torch.tensor(values, dtype=torch.float64)[None, None]


def test_binary_target_is_strictly_above_half_the_mixture() -> None:
    src = as_bnft([[2.0, 1.5], [0.0, 0.5]])
    mix = as_bnft([[3.0, 3.0], [0.0, 1.0]])
    expected = as_bnft([[1.0, 0.0], [0.0, 0.0]])  # 1.5 == 0.5 * 3 and 0.5 == 0.5 * 1 are not above
    assert torch.equal(binary_mask_target(src, mix), expected)
    assert torch.equal(binary_mask_target(src, mix, threshold=0.4), as_bnft([[1, 1], [0, 1]]))


@pytest.mark.parametrize(("batch", "sources"), [(1, 2), (3, 3)])
def test_targets_broadcast_the_mixture_over_sources(batch: int, sources: int) -> None:
    src = torch.rand(batch, sources, 8, 5)
    mix = src.mean(dim=1, keepdim=True)
    binary = binary_mask_target(src, mix)
    ratio = ratio_mask_target(src, mix)
    assert binary.shape == ratio.shape == (batch, sources, 8, 5)
    assert binary.dtype == torch.float32
    assert torch.equal(binary, (ratio > 0.5).float())


def test_ratio_target_is_clamped_and_silence_gives_zero() -> None:
    src = as_bnft([[1.0, 10.0, 0.0]])
    mix = as_bnft([[4.0, 1.0, 0.0]])
    assert torch.allclose(ratio_mask_target(src, mix), as_bnft([[0.25, 5.0, 0.0]]))
    assert torch.allclose(ratio_mask_target(src, mix, max_ratio=2.0), as_bnft([[0.25, 2.0, 0.0]]))


def test_mixture_that_does_not_broadcast_is_named() -> None:
    with pytest.raises(ValueError, match="mix_mag"):
        binary_mask_target(torch.rand(2, 2, 8, 5), torch.rand(2, 1, 7, 5))


def test_ideal_binary_mask_gives_each_bin_to_the_loudest_source() -> None:
    src = torch.tensor([[[[3.0, 0.0]]], [[[1.0, 0.0]]], [[[2.0, 0.0]]]]).permute(1, 0, 2, 3)
    ibm = ideal_binary_mask(src)  # (1, 3, 1, 2): bin 0 loudest is source 0; bin 1 all silent
    assert torch.equal(ibm[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(ibm[0, :, 0, 1], torch.tensor([1.0, 0.0, 0.0]))  # tie -> first source
    random_ibm = ideal_binary_mask(torch.rand(3, 2, 6, 4))
    assert torch.equal(random_ibm.sum(dim=1), torch.ones(3, 6, 4))


def test_ideal_ratio_mask_is_each_sources_share() -> None:
    src = torch.tensor([[1.0, 0.0], [3.0, 0.0]])[None, :, None, :]  # (1, 2, 1, 2)
    irm = ideal_ratio_mask(src)
    assert torch.allclose(irm[0, :, 0, 0], torch.tensor([0.25, 0.75]))
    assert torch.allclose(irm[0, :, 0, 1], torch.tensor([0.5, 0.5]))  # silent bin split evenly
    random_irm = ideal_ratio_mask(torch.rand(3, 3, 6, 4, dtype=torch.float64))
    assert torch.allclose(random_irm.sum(dim=1), torch.ones(3, 6, 4, dtype=torch.float64))


def test_apply_mask_scales_magnitude_and_keeps_phase() -> None:
    mix_spec = torch.randn(2, 6, 4, dtype=torch.complex128)
    masks = torch.rand(2, 3, 6, 4, dtype=torch.float64)
    out = apply_mask(mix_spec[:, None], masks)
    assert out.shape == (2, 3, 6, 4) and out.dtype == torch.complex128
    assert torch.allclose(out.abs(), masks * mix_spec.abs()[:, None])
    kept = masks > 1e-6
    assert torch.allclose(out.angle()[kept], mix_spec[:, None].angle().expand_as(out)[kept])
    assert torch.equal(apply_mask(mix_spec, torch.ones(2, 6, 4)), mix_spec)
    with pytest.raises(ValueError, match="mix_spec: expected a complex"):
        apply_mask(mix_spec.real, masks)
    with pytest.raises(ValueError, match="mask: expected a real tensor"):
        apply_mask(mix_spec, torch.ones(2, 5, 4))


def test_loss_weight_is_log1p_clamped_to_its_bounds() -> None:
    mix = torch.tensor([0.0, math.e - 1.0, math.exp(20.0)], requires_grad=True)
    weight = mask_loss_weight(mix)
    assert torch.allclose(weight, torch.tensor([1e-3, 1.0, 10.0]))
    assert not weight.requires_grad


def test_bce_of_logit_zero_is_ln2() -> None:
    logits = torch.zeros(3, 2, 4, 5)
    target = torch.ones(3, 2, 4, 5)
    assert weighted_bce_with_logits(logits, target).item() == pytest.approx(LN2)
    uniform = torch.ones(3, 1, 4, 5)
    assert weighted_bce_with_logits(logits, target, uniform).item() == pytest.approx(LN2)
    tripled = weighted_bce_with_logits(logits, 1 - target, 3 * uniform)
    assert tripled.item() == pytest.approx(3 * LN2)


def test_bce_averages_weighted_losses_over_all_elements() -> None:
    logits = torch.tensor([0.0, 0.0, 100.0, -100.0])
    target = torch.tensor([1.0, 0.0, 1.0, 1.0])
    weight = torch.tensor([2.0, 0.0, 1.0, 0.5])
    # (2 ln 2 + 0 + ~0 + 0.5 * 100) / 4, the last term finite (stable form)
    expected = (2 * LN2 + 0.5 * (100 + math.log1p(math.exp(-100)))) / 4
    assert weighted_bce_with_logits(logits, target, weight).item() == pytest.approx(expected)


@pytest.mark.parametrize("sources", [2, 3])
def test_bce_matches_the_reference_reduction(sources: int) -> None:
    # Reference: per source F.binary_cross_entropy(sigmoid(logit), target, weight) (mean), then
    # the mean over sources.
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(2, sources, 16, 8, generator=gen, dtype=torch.float64)
    target = (torch.rand(2, sources, 16, 8, generator=gen, dtype=torch.float64) > 0.5).double()
    weight = mask_loss_weight(10 * torch.rand(2, 1, 16, 8, generator=gen, dtype=torch.float64))
    per_source = [
        F.binary_cross_entropy(torch.sigmoid(logits[:, n : n + 1]), target[:, n : n + 1], weight)
        for n in range(sources)
    ]
    reference = torch.stack(per_source).mean()
    assert torch.allclose(weighted_bce_with_logits(logits, target, weight), reference)


def test_ratio_loss_l1_and_l2_by_hand() -> None:
    pred = torch.tensor([1.0, 3.0])
    target = torch.tensor([0.0, 0.0])
    weight = torch.tensor([1.0, 2.0])
    assert weighted_ratio_loss(pred, target, weight, p=1).item() == pytest.approx((1 + 6) / 2)
    assert weighted_ratio_loss(pred, target, weight, p=2).item() == pytest.approx((1 + 18) / 2)
    assert weighted_ratio_loss(pred, target, p=2).item() == pytest.approx((1 + 9) / 2)
    with pytest.raises(ValueError, match="p: expected 1"):
        weighted_ratio_loss(pred, target, weight, p=3)  # type: ignore[arg-type]


def test_losses_refuse_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="target: expected the shape of logits"):
        weighted_bce_with_logits(torch.zeros(2, 2, 4, 4), torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="weight: shape"):
        pred = torch.zeros(2, 2, 4, 4)
        weighted_ratio_loss(pred, torch.zeros_like(pred), torch.ones(2, 3, 4, 4))


def test_losses_backpropagate_to_the_prediction() -> None:
    logits = torch.zeros(1, 2, 4, 4, requires_grad=True)
    weighted_bce_with_logits(logits, torch.ones(1, 2, 4, 4), torch.ones(1, 1, 4, 4)).backward()
    assert logits.grad is not None
    # d/dz mean(-log sigmoid(z)) at z = 0 is -(1 - 0.5) / count
    assert torch.allclose(logits.grad, torch.full((1, 2, 4, 4), -0.5 / 32))
