"""Conversion between the reference implementation's state dicts and AVPC's."""

from __future__ import annotations

import zlib

import pytest
import torch
from torch import Tensor

from avpc_plugin.checkpoints.convert import (
    ConversionError,
    convert_reference_state_dicts,
    infer_avpc_config,
    to_reference_state_dicts,
)
from avpc_plugin.nets.avpc import AVPC

pytestmark = pytest.mark.usefixtures("one_thread")


def small_model(map_size: int = 2, cycles: int = 2, ngf: int = 4) -> AVPC:
    torch.manual_seed(0)
    return AVPC(visual={"map_size": map_size}, sound={"ngf": ngf, "train_cycles": cycles}).eval()


def reference_dicts(model: AVPC) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    return to_reference_state_dicts(model.state_dict())


def deterministic_value(key: str, like: Tensor) -> Tensor:
    """A fixed tensor for ``key``, from a formula (no RNG), with sensible scales per role."""
    if like.dtype == torch.long:  # num_batches_tracked
        return torch.zeros_like(like)
    phase = zlib.crc32(key.encode()) % 997
    wave = torch.sin(torch.arange(like.numel(), dtype=torch.float64) * 0.731 + phase)
    wave = wave.to(torch.float32).reshape(like.shape)
    name = key.rsplit(".", 1)[-1]
    if key.startswith("a0."):
        return 1.0 + 0.3 * wave
    if key.startswith("b0."):
        return 0.5 + 0.7 * wave  # some rates negative: ReLU clamps them to 0
    if name == "running_var":
        return 1.0 + 0.5 * wave.square()
    if name in ("running_mean", "bias"):
        return 0.1 * wave
    if like.ndim == 1:  # BatchNorm weight
        return 1.0 + 0.2 * wave
    fan_in = like[0].numel() if like.ndim > 1 else 1
    return 2.0 * wave / fan_in**0.5


def deterministic_reference_dicts(model: AVPC) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    frame, sound = reference_dicts(model)
    return (
        {k: deterministic_value(k, v) for k, v in frame.items()},
        {k: deterministic_value(k, v) for k, v in sound.items()},
    )


def fixed_inputs() -> tuple[Tensor, Tensor, Tensor]:
    """(mix_mag (1, 1, 256, 256), frames (1, 2, 3, 1, 224, 224), features (1, 2, 16, 2, 2))."""
    grid = torch.linspace(0, 1, 256)
    mix_mag = (1.5 + torch.sin(17 * grid)[:, None] * torch.cos(11 * grid)[None, :]).square()
    frames = torch.stack(
        [
            torch.sin(torch.linspace(0, 40, 3 * 224 * 224) + n).reshape(3, 1, 224, 224)
            for n in (0, 1)
        ]
    )
    features = torch.stack(
        [torch.sin(torch.arange(64.0) * 0.5 + n).reshape(16, 2, 2) for n in (0, 1)]
    )
    return mix_mag[None, None], frames[None], features[None]


def test_round_trip_gives_identical_outputs() -> None:
    model = small_model()
    config, state = convert_reference_state_dicts(*reference_dicts(model))
    rebuilt = AVPC(**config).eval()
    rebuilt.load_state_dict(state)
    for key, tensor in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], tensor), key
    mix_mag, frames, _ = fixed_inputs()
    with torch.no_grad():
        assert torch.equal(rebuilt(mix_mag, frames), model(mix_mag, frames))
    assert config["sound"] == model.config["sound"]
    assert config["visual"] == {**model.config["visual"], "freeze_trunk": True}


def test_data_parallel_prefix_is_accepted() -> None:
    model = small_model()
    frame, sound = reference_dicts(model)
    _, state = convert_reference_state_dicts(
        {f"module.{k}": v for k, v in frame.items()}, {f"module.{k}": v for k, v in sound.items()}
    )
    assert state.keys() == model.state_dict().keys()


@pytest.mark.parametrize("map_size", [1, 2, 4, 7])
def test_config_is_read_from_shapes(map_size: int) -> None:
    model = small_model(map_size=map_size, cycles=3, ngf=2)
    config, _ = convert_reference_state_dicts(*reference_dicts(model))
    assert config["sound"] == model.config["sound"]
    assert infer_avpc_config(model.state_dict())["sound"] == model.config["sound"]


def test_reference_key_names_and_shapes() -> None:
    frame, sound = reference_dicts(small_model(cycles=4, ngf=8))
    g = 8
    expected_sound = {
        "DownConvs.7.conv2d.weight": (g, 1, 3, 3),  # spectrogram -> finest level
        "DownConvs.1.conv2d.weight": (8 * g, 4 * g, 3, 3),
        "DownConvs.0.weight": (16, 8 * g, 1, 1),  # coarsest level -> visual prediction
        "UpConvs.0.weight": (8 * g, 16, 1, 1),
        "UpConvs.6.convtrans2d.weight": (g, g, 3, 3),
        "UpConvs.7.convtrans2d.weight": (g, 1, 3, 3),  # finest level -> mask
        "a0.0": (1, 8 * g, 1, 1),
        "b0.6": (1, g, 1, 1),
        "BNDown.7.weight": (1,),  # input normalisation
        "BNUp.0.running_var": (8 * g,),
        "BNUp_step.27.running_mean": (g,),  # cycle 3, level 6
        "BNDown_step.23.bias": (g,),  # cycle 3, level 5
    }
    expected_frame = {
        "fc.0.weight": (16, 512, 6, 6),
        "fc.0.bias": (16,),
        "fc.1.running_mean": (16,),
        "features.0.weight": (64, 3, 7, 7),
        "features.4.0.conv1.weight": (64, 64, 3, 3),
        "features.7.1.bn2.num_batches_tracked": (),
    }
    for key, shape in expected_sound.items():
        assert tuple(sound[key].shape) == shape, key
    for key, shape in expected_frame.items():
        assert tuple(frame[key].shape) == shape, key
    assert "BNUp_step.28.weight" not in sound and "BNDown_step.24.weight" not in sound
    batch_norms = 1 + 7 + 7 + 7 * 4 + 6 * 4  # input, encoder, init, per-cycle correction/prediction
    assert len(sound) == 5 * batch_norms + 2 * 7 + 2 * 8  # + rates a, b + DownConvs, UpConvs


def test_reference_sound_parameter_count_at_paper_size() -> None:
    model = AVPC()
    _, sound = reference_dicts(model)
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    count = sum(v.numel() for k, v in sound.items() if not k.endswith(buffers))
    assert count == 4_692_866


@pytest.mark.parametrize(
    ("which", "key"),
    [("sound", "BNUp_step.3.running_mean"), ("sound", "a0.2"), ("frame", "fc.1.weight")],
)
def test_missing_key_is_named(which: str, key: str) -> None:
    frame, sound = reference_dicts(small_model())
    del (sound if which == "sound" else frame)[key]
    with pytest.raises(ConversionError, match=key.replace(".", r"\.")):
        convert_reference_state_dicts(frame, sound)


def test_wrong_shape_is_named() -> None:
    frame, sound = reference_dicts(small_model())
    sound["UpConvs.3.convtrans2d.weight"] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(ConversionError, match=r"UpConvs\.3\.convtrans2d\.weight.*\(3, 3, 3, 3\)"):
        convert_reference_state_dicts(frame, sound)


def test_unexpected_key_is_named() -> None:
    frame, sound = reference_dicts(small_model())
    sound["extra.weight"] = torch.zeros(1)
    with pytest.raises(ConversionError, match=r"extra\.weight"):
        convert_reference_state_dicts(frame, sound)
    with pytest.raises(ConversionError, match=r"sound_net\.bogus"):
        to_reference_state_dicts({**small_model().state_dict(), "sound_net.bogus": torch.zeros(1)})


def test_inconsistent_structure_is_rejected() -> None:
    frame, sound = reference_dicts(small_model())
    frame["fc.0.weight"] = torch.zeros(16, 512, 4, 4)  # a 4 x 4 head with a 2 x 2 sound net
    frame["fc.0.bias"] = torch.zeros(16)
    with pytest.raises(ConversionError, match="4 x 4 visual map"):
        convert_reference_state_dicts(frame, sound)
    frame, sound = reference_dicts(small_model())
    del frame["fc.0.weight"]
    with pytest.raises(ConversionError, match=r"net_frame: missing key 'fc\.0\.weight'"):
        convert_reference_state_dicts(frame, sound)


# Outputs of the reference code on ``fixed_inputs`` with the parameters of
# ``deterministic_reference_dicts`` (ngf 4, 2 trained cycles, 2 x 2 map, eval mode), computed
# with zjsong/Audio-Visual-Predictive-Coding's PCNetLR.forward_test_stage and
# ResNetFC.forward_multiframe.
# Sound: mask logits from ``features`` per test-time cycle count: mean per source and
# (source, freq, time) -> value.
REFERENCE_LOGITS = {
    2: {
        "mean": (0.319745, 0.320614),
        "points": {
            (0, 0, 0): 0.032844,
            (1, 0, 0): 0.042409,
            (0, 100, 37): 0.173761,
            (1, 100, 37): 0.180652,
            (0, 255, 255): 0.705483,
            (1, 200, 3): 0.493866,
        },
    },
    3: {
        "mean": (0.959956, 0.970661),
        "points": {
            (0, 0, 0): 0.338253,
            (1, 0, 0): 0.321062,
            (0, 100, 37): 0.16727,
            (1, 100, 37): 0.179347,
            (0, 255, 255): 1.257006,
            (1, 200, 3): 0.450267,
        },
    },
}
# Visual: feature maps from ``frames``: mean per source and (source, channel, row, col) -> value.
REFERENCE_VISUAL = {
    "mean": (0.027659, 0.024905),
    "points": {
        (0, 1, 0, 1): 0.150074,
        (0, 2, 0, 1): 0.022654,
        (1, 1, 0, 1): 0.11674,
        (1, 2, 0, 1): 0.061702,
    },
}


@pytest.fixture(scope="module")
def converted_deterministic_model() -> AVPC:
    """The AVPC converted from ``deterministic_reference_dicts``, in eval mode."""
    config, state = convert_reference_state_dicts(*deterministic_reference_dicts(small_model()))
    model = AVPC(**config).eval()
    model.load_state_dict(state)
    return model


@pytest.mark.parametrize("cycles", sorted(REFERENCE_LOGITS))
def test_sound_net_matches_reference_implementation(
    converted_deterministic_model: AVPC, cycles: int
) -> None:
    mix_mag, _, features = fixed_inputs()
    with torch.no_grad():
        logits = converted_deterministic_model.masks_from_features(mix_mag, features, cycles)[0]
    expected = REFERENCE_LOGITS[cycles]
    assert logits.mean(dim=(1, 2)).tolist() == pytest.approx(expected["mean"], rel=1e-4, abs=1e-5)
    for (source, row, col), value in expected["points"].items():
        assert logits[source, row, col].item() == pytest.approx(value, rel=1e-4, abs=1e-5)


def test_visual_net_matches_reference_implementation(converted_deterministic_model: AVPC) -> None:
    _, frames, _ = fixed_inputs()
    with torch.no_grad():
        maps = converted_deterministic_model.visual_features(frames)[0]
    assert maps.mean(dim=(1, 2, 3)).tolist() == pytest.approx(REFERENCE_VISUAL["mean"], abs=1e-5)
    for index, value in REFERENCE_VISUAL["points"].items():
        assert maps[index].item() == pytest.approx(value, rel=1e-4, abs=1e-5)
