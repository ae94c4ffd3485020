"""AVPC, the top-level model: shared interface, shapes, gradients, optimizer groups."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from avpc_plugin.nets import build_net
from avpc_plugin.nets.avpc import AVPC

pytestmark = pytest.mark.usefixtures("one_thread")


def small_model(map_size: int = 2, freeze_trunk: bool = False, cycles: int = 2) -> AVPC:
    torch.manual_seed(0)
    return AVPC(
        visual={"map_size": map_size, "freeze_trunk": freeze_trunk},
        sound={"ngf": 4, "train_cycles": cycles},
    )


@pytest.fixture(scope="module")
def eval_model() -> AVPC:
    """A small model in eval mode, shared by the tests that only read it."""
    return small_model().eval()


def mix_mag(batch: int, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, 256, 256, generator=generator).square() * 3


def frames(batch: int, sources: int, num_frames: int = 1, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, sources, 3, num_frames, 224, 224, generator=generator)


def features(batch: int, sources: int, map_size: int = 2, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, sources, 16, map_size, map_size, generator=generator)


def test_defaults_are_the_paper_setting() -> None:
    model = AVPC()
    assert model.config["sound"] == {
        "ngf": 64,
        "train_cycles": 4,
        "visual_channels": 16,
        "visual_map_size": 2,
        "out_channels": 1,
    }
    assert model.config["visual"]["map_size"] == 2
    assert model.config["visual"]["visual_channels"] == 16
    assert sum(p.numel() for p in model.sound_net.parameters()) == 4_692_866
    head = [*model.visual_net.head_conv.parameters(), *model.visual_net.head_norm.parameters()]
    assert sum(p.numel() for p in head) == 16 * 512 * 36 + 16 + 2 * 16  # about 0.3 M


@pytest.mark.parametrize(("batch", "sources"), [(1, 2), (1, 3), (3, 2), (3, 3)])
def test_mask_shapes(eval_model: AVPC, batch: int, sources: int) -> None:
    with torch.no_grad():
        logits = eval_model.masks_from_features(mix_mag(batch), features(batch, sources))
    assert logits.shape == (batch, sources, 256, 256)


@pytest.mark.parametrize("map_size", [1, 2, 4, 7])
def test_forward_shapes_for_every_map_size(map_size: int) -> None:
    model = small_model(map_size).eval()
    with torch.no_grad():
        visual = model.visual_features(frames(1, 2))
        logits = model(mix_mag(1), frames(1, 2))
    assert visual.shape == (1, 2, 16, map_size, map_size)
    assert logits.shape == (1, 2, 256, 256)


def test_forward_is_masks_from_visual_features(eval_model: AVPC) -> None:
    mag, clips = mix_mag(1), frames(1, 2, num_frames=2)
    with torch.no_grad():
        direct = eval_model(mag, clips, cycles=3)
        split = eval_model.masks_from_features(mag, eval_model.visual_features(clips), cycles=3)
    torch.testing.assert_close(direct, split, rtol=0, atol=0)


def test_sources_are_separated_independently(eval_model: AVPC) -> None:
    """Eval mode: a source's mask depends on its own features and the mix, not on the others."""
    mag, feats = mix_mag(1), features(1, 3)
    with torch.no_grad():
        together = eval_model.masks_from_features(mag, feats)
        alone = eval_model.masks_from_features(mag, feats[:, 1:2])
    torch.testing.assert_close(together[:, 1:2], alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(together[:, 0], together[:, 1])


def test_eval_is_deterministic_and_batch_independent(eval_model: AVPC) -> None:
    mag, clips = mix_mag(2), frames(2, 1)
    with torch.no_grad():
        batched = eval_model(mag, clips)
        again = eval_model(mag, clips)
        alone = eval_model(mag[1:2], clips[1:2])
    torch.testing.assert_close(batched, again, rtol=0, atol=0)
    torch.testing.assert_close(batched[1:2], alone, rtol=1e-5, atol=1e-5)


def test_log_magnitude_has_a_floor(eval_model: AVPC) -> None:
    silent = torch.zeros(1, 1, 256, 256)
    with torch.no_grad():
        logits = eval_model.masks_from_features(silent, features(1, 2))
    assert torch.isfinite(logits).all()


def test_test_time_cycles_change_the_masks() -> None:
    model = small_model(cycles=4).eval()
    mag, feats = mix_mag(1), features(1, 2)
    with torch.no_grad():
        four = model.masks_from_features(mag, feats, cycles=4)
        six = model.masks_from_features(mag, feats, cycles=6)
        default = model.masks_from_features(mag, feats)
    torch.testing.assert_close(default, four, rtol=0, atol=0)
    assert not torch.allclose(four, six)


@pytest.mark.parametrize("freeze_trunk", [False, True])
def test_gradients_reach_every_trainable_parameter(freeze_trunk: bool) -> None:
    model = small_model(freeze_trunk=freeze_trunk).train()
    model(mix_mag(1), frames(1, 2)).square().mean().backward()
    for name, param in model.named_parameters():
        if name.startswith("visual_net.trunk.") and freeze_trunk:
            assert param.grad is None and not param.requires_grad, name
        else:
            assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("freeze_trunk", [False, True])
def test_param_groups_cover_every_trainable_parameter_once(freeze_trunk: bool) -> None:
    model = small_model(freeze_trunk=freeze_trunk)
    groups = model.param_groups(lr_sound=1e-3, lr_visual=1e-4)
    by_name = {group["name"]: group for group in groups}
    expected_names = {"sound", "sound_rates", "visual_head"} | (
        set() if freeze_trunk else {"visual_trunk"}
    )
    assert set(by_name) == expected_names
    grouped = [id(p) for group in groups for p in group["params"]]
    trainable = [id(p) for p in model.parameters() if p.requires_grad]
    assert sorted(grouped) == sorted(trainable)
    assert by_name["sound"]["lr"] == by_name["sound_rates"]["lr"] == 1e-3
    assert by_name["visual_head"]["lr"] == 1e-4
    assert by_name["sound_rates"]["weight_decay"] == 0.0
    assert len(by_name["sound_rates"]["params"]) == 2 * model.sound_net.num_levels
    optimizer = torch.optim.AdamW(groups, weight_decay=1e-2)
    assert optimizer.param_groups[0]["weight_decay"] == 1e-2


@pytest.mark.parametrize(
    ("method", "args", "message"),
    [
        ("masks_from_features", (torch.zeros(1, 256, 256), features(1, 2)), "mix_mag"),
        ("masks_from_features", (mix_mag(1), torch.zeros(1, 2, 16, 4, 4)), "features"),
        ("masks_from_features", (mix_mag(1), features(2, 2)), "features: batch"),
        ("visual_features", (torch.zeros(1, 2, 3, 1, 112, 96),), "frames: expected square"),
        ("forward", (mix_mag(2), torch.zeros(1, 2, 3, 1, 224, 224)), "frames: batch"),
    ],
)
def test_bad_input_is_named(
    eval_model: AVPC, method: str, args: tuple[Tensor, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        getattr(eval_model, method)(*args)


def test_inconsistent_sub_configs_are_rejected() -> None:
    with pytest.raises(ValueError, match="visual_map_size"):
        AVPC(visual={"map_size": 2}, sound={"ngf": 4, "visual_map_size": 4})
    with pytest.raises(TypeError, match="sound config"):
        AVPC(sound={"ngf": 4, "dropout": 0.5})


def test_registered_and_rebuildable_from_config() -> None:
    model = small_model(map_size=4, cycles=3)
    rebuilt = build_net("avpc", **model.config)
    assert isinstance(rebuilt, AVPC)
    assert rebuilt.config == model.config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
