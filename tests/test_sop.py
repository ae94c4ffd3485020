"""The Sound-of-Pixels baseline ("sop"): interface shared with AVPC, sizes, invariants, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from avpc_plugin.nets import build_net
from avpc_plugin.nets.sop import DotProductSynthesizer, SoundOfPixels, SoundOfPixelsUNet

# Small but complete: the full 7 U-Net levels on a 128 x 128 spectrogram, ngf 4, K 3.
SMALL = {"ngf": 4, "feature_channels": 3, "unet_levels": 7}
SPEC = 128
FRAME = 32  # ResNet-18 gives 1 x 1 maps: cheap
BIG_FRAME = 64  # 2 x 2 maps, where the spatial max-pool matters
TIMES = 2


def small_model(**overrides: object) -> SoundOfPixels:
    torch.manual_seed(0)
    model = build_net("sop", **{**SMALL, **overrides})
    assert isinstance(model, SoundOfPixels)
    return model


@pytest.fixture(scope="module")
def shared_model() -> SoundOfPixels:
    """One small model for the tests that only run it (each sets its own train / eval mode)."""
    return small_model()


def inputs(
    batch: int, sources: int, seed: int = 1, frame: int = FRAME
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    mix_mag = torch.rand(batch, 1, SPEC, SPEC, generator=gen) * 2.0
    frames = torch.randn(batch, sources, 3, TIMES, frame, frame, generator=gen)
    return mix_mag, frames


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("sources", [2, 3])
def test_forward_gives_one_logit_map_per_source(
    batch: int, sources: int, shared_model: SoundOfPixels
) -> None:
    model = shared_model.train()
    mix_mag, frames = inputs(batch, sources)
    logits = model(mix_mag, frames)
    assert logits.shape == (batch, sources, SPEC, SPEC)
    assert torch.isfinite(logits).all()
    assert model.visual_features(frames).shape == (batch, sources, SMALL["feature_channels"])


def test_unet_runs_once_per_mixture_whatever_the_number_of_sources(
    shared_model: SoundOfPixels,
) -> None:
    model = shared_model.train()
    calls = []
    hook = model.sound_net.register_forward_hook(lambda *_: calls.append(1))
    try:
        model(*inputs(batch=2, sources=3))
    finally:
        hook.remove()
    assert len(calls) == 1


def test_forward_equals_masks_from_cached_visual_features(shared_model: SoundOfPixels) -> None:
    model = shared_model.eval()
    mix_mag, frames = inputs(batch=2, sources=3)
    with torch.no_grad():
        direct = model(mix_mag, frames, cycles=7)
        cached = model.masks_from_features(mix_mag, model.visual_features(frames))
    torch.testing.assert_close(direct, cached, rtol=0, atol=0)


def test_eval_mask_of_a_source_ignores_the_other_sources_and_mixtures(
    shared_model: SoundOfPixels,
) -> None:
    model = shared_model.eval()
    mix_mag, frames = inputs(batch=2, sources=3)
    with torch.no_grad():
        with_b = model(mix_mag, frames[:, [0, 1]])
        with_c = model(mix_mag, frames[:, [0, 2]])
        first_mix_alone = model(mix_mag[:1], frames[:1, [0, 1]])
    torch.testing.assert_close(with_b[:, 0], with_c[:, 0], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(first_mix_alone, with_b[:1], rtol=1e-5, atol=1e-7)
    # not vacuous: different sources do get different masks
    assert not torch.allclose(with_b[:, 1], with_c[:, 1])


def test_visual_vector_is_the_max_over_time_of_per_frame_vectors(
    shared_model: SoundOfPixels,
) -> None:
    model = shared_model.eval()
    _, frames = inputs(batch=1, sources=2, frame=BIG_FRAME)
    with torch.no_grad():
        both = model.visual_features(frames)
        per_frame = [model.visual_features(frames[:, :, :, t : t + 1]) for t in range(TIMES)]
    torch.testing.assert_close(both, torch.maximum(*per_frame))
    assert ((both > 0) & (both < 1)).all()


def test_gradients_reach_every_trainable_parameter() -> None:
    model = small_model().train()
    mix_mag, frames = inputs(batch=2, sources=2, frame=BIG_FRAME)
    logits = model(mix_mag, frames)
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(3))
    (logits * weights).sum().backward()  # a plain sum would be flat through BatchNorm
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    assert len(trainable) == len(list(model.parameters()))
    missing = [name for name, p in trainable if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_frozen_trunk_gets_no_gradient_stays_in_eval_mode_and_has_no_param_group() -> None:
    model = small_model(freeze_trunk=True).train()
    trunk = model.visual_net.trunk
    assert not trunk.training
    assert model.visual_net.head.training
    assert all(not p.requires_grad for p in trunk.parameters())
    norms = [m for m in trunk.modules() if isinstance(m, nn.BatchNorm2d)]
    before = [torch.as_tensor(m.running_mean).clone() for m in norms]
    model(*inputs(batch=1, sources=2)).sum().backward()
    assert all(p.grad is None for p in trunk.parameters())
    after = [torch.as_tensor(m.running_mean) for m in norms]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    names = [group["name"] for group in model.param_groups(1e-3, 1e-4)]
    assert names == ["sound", "visual_head"]


def test_param_groups_cover_each_trainable_parameter_once_at_the_sop_rates(
    shared_model: SoundOfPixels,
) -> None:
    model = shared_model.train()
    groups = model.param_groups(lr_sound=1e-3, lr_visual=1e-4)
    lrs = {group["name"]: group["lr"] for group in groups}
    assert lrs == {"sound": 1e-3, "visual_head": 1e-3, "visual_trunk": 1e-4}
    grouped = [id(p) for group in groups for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    torch.optim.AdamW(groups)  # accepted by a torch optimizer


def test_zero_magnitude_is_floored_before_the_log(shared_model: SoundOfPixels) -> None:
    model = shared_model.eval()
    mix_mag, frames = inputs(batch=1, sources=2)
    with torch.no_grad():
        logits = model(torch.zeros_like(mix_mag), frames)
    assert torch.isfinite(logits).all()


def test_synthesizer_is_a_scaled_dot_product_plus_bias() -> None:
    synth = DotProductSynthesizer(channels=2)
    with torch.no_grad():
        synth.scale.copy_(torch.tensor([1.0, 3.0]))
        synth.bias.fill_(0.5)
    visual = torch.tensor([[[1.0, 2.0]]])  # (B=1, N=1, K=2)
    sound = torch.tensor([4.0, 5.0]).reshape(1, 2, 1, 1)  # (B=1, K=2, 1, 1)
    # 1 * 1 * 4 + 3 * 2 * 5 + 0.5
    assert synth(visual, sound).item() == pytest.approx(34.5)


def test_unet_keeps_the_spectrogram_size_and_gives_k_channels() -> None:
    unet = SoundOfPixelsUNet(ngf=4, out_channels=5, levels=6).eval()
    with torch.no_grad():
        out = unet(torch.randn(2, 1, 64, 128))
    assert out.shape == (2, 5, 64, 128)


def test_parameter_counts_at_the_paper_size() -> None:
    # 7-level U-Net, ngf 64, K 32, upsample + 3 x 3 conv ups: Sound-of-Pixels' "about 31 M".
    unet = SoundOfPixelsUNet(ngf=64, out_channels=32, levels=7)
    assert sum(p.numel() for p in unet.parameters()) == 30_274_210
    assert sum(p.numel() for p in DotProductSynthesizer(32).parameters()) == 33
    head = small_model(feature_channels=32).visual_net.head
    assert sum(p.numel() for p in head.parameters()) == 512 * 32 * 9 + 32


def test_config_rebuilds_the_same_architecture() -> None:
    model = small_model(freeze_trunk=True)
    rebuilt = build_net("sop", **model.config)
    rebuilt.load_state_dict(model.state_dict())  # strict: same names and shapes
    assert rebuilt.config == model.config
    assert model.config["trunk_weights"] is None


def test_trunk_input_size_resizes_frames_before_the_trunk() -> None:
    """At 64 px the trunk sees the antialiased 64 px frames (its 2 x 2 map is max-pooled)."""
    model = small_model(trunk_input_size=64).eval()
    assert model.config["trunk_input_size"] == 64
    assert "trunk_input_size" not in small_model().config
    frames = torch.randn(1, 2, 3, 1, FRAME, FRAME)
    with torch.no_grad():
        vectors = model.visual_features(frames)
        images = torch.nn.functional.interpolate(
            frames[0, :, :, 0], (64, 64), mode="bilinear", antialias=True
        )
        maps = model.visual_net.head(model.visual_net.trunk(images))
    assert maps.shape[-2:] == (2, 2)
    expected = torch.sigmoid(maps.amax(dim=(2, 3)))
    torch.testing.assert_close(vectors[0], expected, rtol=1e-5, atol=1e-6)
    rebuilt = build_net("sop", **model.config)
    rebuilt.load_state_dict(model.state_dict())
    with pytest.raises(ValueError, match="trunk_input_size"):
        small_model(trunk_input_size=16)


@pytest.mark.parametrize(
    ("mix_shape", "frames_shape", "argument"),
    [
        ((1, SPEC, SPEC), (1, 2, 3, TIMES, FRAME, FRAME), "mix_mag"),
        ((1, 2, SPEC, SPEC), (1, 2, 3, TIMES, FRAME, FRAME), "mix_mag"),
        ((1, 1, 100, SPEC), (1, 2, 3, TIMES, FRAME, FRAME), "mix_mag"),
        ((1, 1, SPEC, SPEC), (1, 3, TIMES, FRAME, FRAME), "frames"),
        ((1, 1, SPEC, SPEC), (1, 2, 1, TIMES, FRAME, FRAME), "frames"),
        ((1, 1, SPEC, SPEC), (2, 2, 3, TIMES, FRAME, FRAME), "frames"),
    ],
)
def test_bad_shapes_name_the_argument(
    mix_shape: tuple[int, ...],
    frames_shape: tuple[int, ...],
    argument: str,
    shared_model: SoundOfPixels,
) -> None:
    model = shared_model.train()
    with pytest.raises(ValueError, match=argument):
        model(torch.rand(mix_shape), torch.randn(frames_shape))


def test_bad_features_and_config_are_named(shared_model: SoundOfPixels) -> None:
    model = shared_model.train()
    mix_mag = torch.rand(2, 1, SPEC, SPEC)
    with pytest.raises(ValueError, match="features"):
        model.masks_from_features(mix_mag, torch.rand(2, 2, SMALL["feature_channels"] + 1))
    with pytest.raises(ValueError, match="features"):
        model.masks_from_features(mix_mag, torch.rand(1, 2, SMALL["feature_channels"]))
    with pytest.raises(ValueError, match="ngf"):
        build_net("sop", ngf=0)
