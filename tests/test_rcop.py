"""RCoP SimSiam heads ("rcop") and the symmetric stop-gradient loss."""

from __future__ import annotations

import math

import pytest
import torch

from avpc_plugin.nets import build_net
from avpc_plugin.nets.rcop import RCoPHeads, rcop_loss

SMALL = {"pooled_size": 8, "proj_dim": 16, "pred_hidden": 4}


def small_heads() -> RCoPHeads:
    torch.manual_seed(0)
    heads = build_net("rcop", **SMALL)
    assert isinstance(heads, RCoPHeads)
    return heads


def views(batch: int = 3, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(batch, 1, size, size, generator=gen), torch.randn(
        batch, 1, size, size, generator=gen
    )


def test_parameter_counts_at_the_reference_size() -> None:
    heads = build_net("rcop")
    assert isinstance(heads, RCoPHeads)
    projector = (4096 * 2048 + 2048) + 2 * (2048 * 2048 + 2048) + 3 * 2 * 2048
    predictor = (2048 * 512 + 512) + 2 * 512 + (512 * 2048 + 2048)
    assert sum(p.numel() for p in heads.projector.parameters()) == projector == 16_795_648
    assert sum(p.numel() for p in heads.predictor.parameters()) == predictor == 2_100_736
    assert sum(p.numel() for p in heads.parameters()) == 18_896_384


@pytest.mark.parametrize("batch", [2, 5])
def test_forward_gives_predictions_and_projections(batch: int) -> None:
    heads = small_heads().train()
    p1, p2, z1, z2 = heads(*views(batch))
    for tensor in (p1, p2, z1, z2):
        assert tensor.shape == (batch, SMALL["proj_dim"])
    assert -1.0 <= rcop_loss(p1, p2, z1, z2).item() <= 1.0


def test_pool_averages_blocks_and_flattens() -> None:
    heads = build_net("rcop", pooled_size=2, proj_dim=4, pred_hidden=2)
    assert isinstance(heads, RCoPHeads)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # 2 x 2 block means of [[0..3], [4..7], [8..11], [12..15]]
    expected = torch.tensor([[2.5, 4.5, 10.5, 12.5]])
    torch.testing.assert_close(heads.eval().pool(x), expected)


def test_gradients_reach_every_head_parameter() -> None:
    heads = small_heads().train()
    rcop_loss(*heads(*views())).backward()
    missing = [n for n, p in heads.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_identical_directions_give_minus_one_and_orthogonal_give_zero() -> None:
    p = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    assert rcop_loss(p, p, 2.0 * p, 0.5 * p).item() == pytest.approx(-1.0)
    a = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    b = torch.tensor([[0.0, 2.0], [-5.0, 0.0]])
    assert rcop_loss(a, a, b, b).item() == pytest.approx(0.0)
    assert rcop_loss(p, p, -p, -p).item() == pytest.approx(1.0)


def test_known_value_by_hand() -> None:
    p1, z2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])  # cos = 1 / sqrt(2)
    p2, z1 = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])  # cos = 0
    assert rcop_loss(p1, p2, z1, z2).item() == pytest.approx(-1.0 / (2.0 * math.sqrt(2.0)))


def test_loss_is_symmetric_in_the_two_views() -> None:
    gen = torch.Generator().manual_seed(2)
    p1, p2, z1, z2 = (torch.randn(4, 6, generator=gen) for _ in range(4))
    torch.testing.assert_close(rcop_loss(p1, p2, z1, z2), rcop_loss(p2, p1, z2, z1))


def test_stop_gradient_on_the_projections() -> None:
    gen = torch.Generator().manual_seed(3)
    producer = torch.randn(4, 6, generator=gen, requires_grad=True)
    z1, z2 = producer * 2.0, producer + 1.0
    p1 = torch.randn(4, 6, generator=gen, requires_grad=True)
    p2 = torch.randn(4, 6, generator=gen, requires_grad=True)
    rcop_loss(p1, p2, z1, z2).backward()
    assert producer.grad is None  # nothing through the z branch
    assert p1.grad is not None and p1.grad.abs().sum() > 0
    assert p2.grad is not None and p2.grad.abs().sum() > 0


def test_heads_pass_gradient_to_the_input_only_through_the_predictions() -> None:
    heads = small_heads().train()
    x1, x2 = (x.requires_grad_() for x in views())
    p1, p2, z1, z2 = heads(x1, x2)
    # the same loss with p detached has no path back at all: z is stop-gradient
    assert not rcop_loss(p1.detach(), p2.detach(), z1, z2).requires_grad
    rcop_loss(p1, p2, z1, z2).backward()
    assert x1.grad is not None and x1.grad.abs().sum() > 0


def test_training_needs_a_batch_of_two_but_eval_takes_one() -> None:
    heads = small_heads()
    x1, x2 = views(batch=1)
    with pytest.raises(ValueError, match=r"x1.*at least 2"):
        heads.train()(x1, x2)
    p1, _, _, _ = heads.eval()(x1, x2)
    assert p1.shape == (1, SMALL["proj_dim"])


def test_bad_inputs_name_the_argument() -> None:
    heads = small_heads()
    x1, x2 = views()
    with pytest.raises(ValueError, match="x1"):
        heads(x1.squeeze(1), x2.squeeze(1))
    with pytest.raises(ValueError, match="x2"):
        heads(x1, x2[:, :, :16])
    with pytest.raises(ValueError, match="x1"):
        heads(x1.expand(-1, 2, -1, -1), x2.expand(-1, 2, -1, -1))
    with pytest.raises(ValueError, match="z2"):
        rcop_loss(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="pooled_size"):
        build_net("rcop", pooled_size=0)


def test_config_rebuilds_the_same_heads() -> None:
    heads = small_heads()
    rebuilt = build_net("rcop", **heads.config)
    rebuilt.load_state_dict(heads.state_dict())
    assert rebuilt.config == heads.config == SMALL
