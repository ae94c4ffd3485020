"""VisualNet: ResNet-18 trunk + conv head -> a time-averaged (C, k, k) map per source."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor

from avpc_plugin.nets import build_net
from avpc_plugin.nets.visual import VisualNet

pytestmark = pytest.mark.usefixtures("one_thread")


def frames(batch: int, num_frames: int, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, num_frames, 224, 224, generator=generator)


def visual_net(**config: object) -> VisualNet:
    torch.manual_seed(0)
    return VisualNet(**config)  # type: ignore[arg-type]


@pytest.mark.parametrize("map_size", [1, 2, 4, 7])
def test_output_shape(map_size: int) -> None:
    net = visual_net(map_size=map_size, visual_channels=16).eval()
    with torch.no_grad():
        maps = net(frames(2, 1))
    assert maps.shape == (2, 16, map_size, map_size)


def test_frames_are_averaged_after_the_head() -> None:
    """T frames give the mean of each frame's map (leaky ReLU applied per frame, then mean)."""
    net = visual_net().eval()
    clip = frames(1, 2)
    with torch.no_grad():
        together = net(clip)
        each = [net(clip[:, :, t : t + 1]) for t in range(2)]
    torch.testing.assert_close(together, (each[0] + each[1]) / 2, rtol=1e-5, atol=1e-6)


def test_head_ends_in_batch_norm_and_leaky_relu() -> None:
    net = visual_net().eval()
    with torch.no_grad():
        net.head_norm.weight.zero_()  # the BatchNorm output is its bias
        net.head_norm.bias.copy_(torch.linspace(-8.0, 7.0, 16))
        maps = net(frames(1, 2))
    expected = torch.nn.functional.leaky_relu(torch.linspace(-8.0, 7.0, 16), 0.2)
    torch.testing.assert_close(maps, expected[None, :, None, None].expand(1, 16, 2, 2))


def test_trainable_trunk_gets_gradients() -> None:
    net = visual_net(freeze_trunk=False).train()
    net(frames(2, 1)).square().sum().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_frozen_trunk_gets_no_gradients_and_keeps_its_statistics() -> None:
    net = visual_net(freeze_trunk=True).train()
    stats_before = net.trunk[1].running_mean.clone()
    net(frames(2, 1)).square().sum().backward()
    assert not net.trunk.training and net.head_norm.training
    assert torch.equal(net.trunk[1].running_mean, stats_before)
    for name, param in net.trunk.named_parameters():
        assert param.grad is None and not param.requires_grad, name
    for name in ("head_conv", "head_norm"):
        for param in getattr(net, name).parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_trunk_weights_are_loaded_from_a_file(tmp_path: Path) -> None:
    torch.manual_seed(3)
    source = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    net = VisualNet(trunk_weights=str(path))
    assert torch.equal(net.trunk[0].weight, source.conv1.weight)
    assert torch.equal(net.trunk[7][1].bn2.running_var, source.layer4[1].bn2.running_var)
    assert net.trunk_weights == str(path)
    assert net.config["trunk_weights"] is None  # the state dict carries the weights
    rebuilt = build_net("visual", **net.config)  # no file needed to rebuild
    rebuilt.load_state_dict(net.state_dict())
    with pytest.raises(FileNotFoundError, match=r"missing\.pth"):
        VisualNet(trunk_weights=str(tmp_path / "missing.pth"))
    for name, content in (("empty.pth", b""), ("text.pth", b"not a torch file")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=rf"{name}: not a readable torch state dict"):
            VisualNet(trunk_weights=str(tmp_path / name))
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match=r"list\.pth: expected a state dict, got list"):
        VisualNet(trunk_weights=str(tmp_path / "list.pth"))


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((1, 3, 1, 112, 96), "frames: expected square frames"),
        ((1, 1, 1, 224, 224), r"frames: expected shape \(B, 3, T, S, S\)"),
        ((3, 1, 224, 224), r"frames: expected shape \(B, 3, T, S, S\)"),
    ],
)
def test_bad_frames_are_named(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        visual_net()(torch.zeros(shape))


def test_frames_staged_at_the_trunks_size_give_what_full_frames_give() -> None:
    # training may stage frames at trunk_input_size ([data] image_size): the trunk then skips
    # its own resize, and sees exactly what it sees of 224 px frames resized the same way
    torch.manual_seed(0)
    net = visual_net(trunk_input_size=112).eval()
    full = torch.randn(2, 3, 1, 224, 224)
    small = F.interpolate(full[:, :, 0], (112, 112), mode="bilinear", antialias=True)[:, :, None]
    torch.testing.assert_close(net(small), net(full))


@pytest.mark.parametrize("config", [{"map_size": 3}, {"visual_channels": 0}])
def test_bad_config_is_named(config: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(config))):
        VisualNet(**config)  # type: ignore[arg-type]


def test_registered_and_rebuildable_from_config() -> None:
    net = visual_net(map_size=7, visual_channels=8, freeze_trunk=True)
    assert net.config == {
        "map_size": 7,
        "visual_channels": 8,
        "trunk_weights": None,
        "freeze_trunk": True,
    }
    rebuilt = build_net("visual", **net.config)
    assert isinstance(rebuilt, VisualNet)
    assert rebuilt.head_conv.weight.shape == (8, 512, 1, 1)


def test_smaller_trunk_input_resizes_frames_and_pools_back_to_the_head_grid() -> None:
    """trunk_input_size 112: the trunk sees antialiased 112 px frames, its 4 x 4 map is pooled to
    7 x 7, and the head (same parameters as at 224) gives the usual k x k map."""
    small = visual_net(trunk_input_size=112).eval()
    paper = visual_net().eval()
    assert sum(p.numel() for p in small.parameters()) == sum(p.numel() for p in paper.parameters())
    clip = frames(2, 1)
    with torch.no_grad():
        maps = small(clip)
        resized = torch.nn.functional.interpolate(
            clip[:, :, 0], size=(112, 112), mode="bilinear", antialias=True
        )
        trunk_maps = small.trunk(resized)
        assert trunk_maps.shape == (2, 512, 4, 4)
        pooled = torch.nn.functional.adaptive_avg_pool2d(trunk_maps, 7)
        expected = torch.nn.functional.leaky_relu(small.head_norm(small.head_conv(pooled)), 0.2)
    assert maps.shape == (2, 16, 2, 2)
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5)


def test_trunk_input_size_is_recorded_only_when_not_224() -> None:
    assert "trunk_input_size" not in visual_net().config
    net = visual_net(trunk_input_size=112, freeze_trunk=True)
    assert net.config["trunk_input_size"] == 112
    rebuilt = build_net("visual", **net.config)
    assert isinstance(rebuilt, VisualNet) and rebuilt.trunk_input_size == 112


@pytest.mark.parametrize("size", [16, 256, 112.0, True])
def test_bad_trunk_input_size_is_named(size: object) -> None:
    with pytest.raises(ValueError, match="trunk_input_size"):
        VisualNet(trunk_input_size=size)  # type: ignore[arg-type]
