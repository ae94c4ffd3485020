"""PCNet, the predictive-coding sound net: size, shapes, cycles, gradients, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from avpc_plugin.nets import build_net
from avpc_plugin.nets.pcnet import PCNet, level_channels

pytestmark = pytest.mark.usefixtures("one_thread")


def small_net(map_size: int = 2, train_cycles: int = 2, ngf: int = 4, seed: int = 0) -> PCNet:
    torch.manual_seed(seed)
    return PCNet(ngf=ngf, train_cycles=train_cycles, visual_map_size=map_size)


def randomise_batch_norms(net: PCNet, seed: int = 1) -> None:
    """Give every BatchNorm non-trivial statistics and affine terms (fresh ones are identity)."""
    generator = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(0.2 * torch.randn(c, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(c, generator=generator))
            with torch.no_grad():
                module.weight.copy_(0.5 + torch.rand(c, generator=generator))
                module.bias.copy_(0.2 * torch.randn(c, generator=generator))


def inputs(batch: int, map_size: int = 2, seed: int = 0) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    log_mag = torch.randn(batch, 1, 256, 256, generator=generator)
    visual = torch.randn(batch, 16, map_size, map_size, generator=generator)
    return log_mag, visual


def parameter_count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_paper_size_parameter_count() -> None:
    assert parameter_count(PCNet(ngf=64, train_cycles=4)) == 4_692_866


@pytest.mark.parametrize("extra_cycles", [1, 2])
def test_each_trained_cycle_adds_its_batch_norms(extra_cycles: int) -> None:
    base = parameter_count(PCNet(ngf=64, train_cycles=4))
    more = parameter_count(PCNet(ngf=64, train_cycles=4 + extra_cycles))
    # BN weight + bias per channel: prediction step on all but the finest level, correction on all
    per_cycle = 2 * (2 * sum(level_channels(64, 2)) - 64)
    assert per_cycle == 5_504
    assert more - base == extra_cycles * per_cycle


def test_level_channels_follow_the_reference_plans() -> None:
    assert level_channels(64, 2) == [512, 256, 256, 128, 128, 64, 64]
    assert level_channels(64, 1) == level_channels(64, 2)
    assert level_channels(64, 4) == [256, 256, 128, 128, 64, 64]
    assert level_channels(64, 7) == [256, 128, 128, 64, 64]
    with pytest.raises(ValueError, match="visual_map_size"):
        level_channels(64, 3)


@pytest.mark.parametrize("map_size", [1, 2, 4, 7])
@pytest.mark.parametrize("batch", [1, 3])
def test_output_shape(map_size: int, batch: int) -> None:
    net = small_net(map_size).eval()
    log_mag, visual = inputs(batch, map_size)
    with torch.no_grad():
        logits = net(log_mag, visual)
    assert logits.shape == (batch, 1, 256, 256)
    assert torch.isfinite(logits).all()


def test_sources_share_a_mixture() -> None:
    """M visual maps per mixture equal the mixture repeated M times (eval mode)."""
    net = small_net().eval()
    randomise_batch_norms(net)
    log_mag, _ = inputs(2)
    _, visual = inputs(6, seed=1)
    with torch.no_grad():
        shared = net(log_mag, visual)
        repeated = net(log_mag.repeat_interleave(3, dim=0), visual)
    torch.testing.assert_close(shared, repeated, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(shared[0], shared[1])  # different maps, different masks


def test_gradients_reach_every_parameter() -> None:
    net = small_net(train_cycles=3).train()
    log_mag, visual = inputs(2)
    net(log_mag, visual).square().mean().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


def test_rates_start_at_the_paper_values_and_are_clamped() -> None:
    net = small_net()
    assert all(torch.all(rate == 1.0) for rate in net.correction_rates)
    assert all(torch.all(rate == 0.5) for rate in net.prediction_rates)
    net.eval()
    randomise_batch_norms(net)
    log_mag, visual = inputs(1)
    with torch.no_grad():
        for rate in net.prediction_rates:
            rate.fill_(-0.3)
        negative = net(log_mag, visual)
        for rate in net.prediction_rates:
            rate.fill_(0.0)
        zero = net(log_mag, visual)
    torch.testing.assert_close(negative, zero)  # relu(-0.3) == relu(0)


def test_test_time_cycles_change_the_output() -> None:
    net = small_net(train_cycles=2).eval()
    randomise_batch_norms(net)
    log_mag, visual = inputs(1)
    with torch.no_grad():
        outputs = {c: net(log_mag, visual, cycles=c) for c in (0, 1, 2, 4)}
        default = net(log_mag, visual)
    torch.testing.assert_close(default, outputs[2])
    for a, b in [(0, 1), (1, 2), (2, 4)]:
        assert not torch.allclose(outputs[a], outputs[b]), (a, b)


def test_cycles_beyond_training_reuse_the_last_batch_norms() -> None:
    """Running 3 cycles of a 2-cycle net == a 3-cycle net whose third BN set copies the second."""
    short = small_net(train_cycles=2).eval()
    randomise_batch_norms(short)
    long = small_net(train_cycles=3).eval()
    state = short.state_dict()
    for key, value in list(state.items()):
        if key.startswith(("cycle_prediction_norms.1.", "cycle_correction_norms.1.")):
            state[key.replace("norms.1.", "norms.2.", 1)] = value
    long.load_state_dict(state)
    log_mag, visual = inputs(1)
    with torch.no_grad():
        torch.testing.assert_close(short(log_mag, visual, cycles=3), long(log_mag, visual))
        torch.testing.assert_close(
            short(log_mag, visual, cycles=5), long(log_mag, visual, cycles=5), rtol=1e-5, atol=1e-5
        )


def test_eval_is_deterministic_and_batch_independent() -> None:
    net = small_net().eval()
    randomise_batch_norms(net)
    log_mag, visual = inputs(3)
    with torch.no_grad():
        batched = net(log_mag, visual)
        alone = net(log_mag[1:2], visual[1:2])
        again = net(log_mag, visual)
    torch.testing.assert_close(batched, again, rtol=0, atol=0)
    torch.testing.assert_close(batched[1:2], alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("log_mag_shape", "visual_shape", "cycles", "message"),
    [
        ((1, 1, 256, 128), (1, 16, 2, 2), None, "log_mag"),
        ((1, 2, 256, 256), (1, 16, 2, 2), None, "log_mag"),
        ((1, 1, 256, 256), (1, 8, 2, 2), None, "visual_map"),
        ((1, 1, 256, 256), (1, 16, 4, 4), None, "visual_map"),
        ((2, 1, 256, 256), (3, 16, 2, 2), None, "multiple"),
        ((1, 1, 256, 256), (1, 16, 2, 2), -1, "cycles"),
        ((1, 1, 256, 256), (1, 16, 2, 2), True, "cycles"),
    ],
)
def test_bad_input_is_named(
    log_mag_shape: tuple[int, ...], visual_shape: tuple[int, ...], cycles: object, message: str
) -> None:
    net = small_net()
    with pytest.raises(ValueError, match=message):
        net(torch.zeros(log_mag_shape), torch.zeros(visual_shape), cycles=cycles)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "config",
    [{"ngf": 0}, {"train_cycles": 0}, {"visual_map_size": 3}, {"out_channels": 1.5}],
)
def test_bad_config_is_named(config: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(config))):
        PCNet(**config)  # type: ignore[arg-type]


def test_registered_and_rebuildable_from_config() -> None:
    net = small_net(map_size=4, train_cycles=3)
    rebuilt = build_net("pcnet", **net.config)
    assert isinstance(rebuilt, PCNet)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in net.state_dict().items()
    }
