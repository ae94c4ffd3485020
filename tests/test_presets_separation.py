"""Presets inside the Separator (each knob moves the output the expected way), bss_eval, tune."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers_separation import ConstantMasks
from helpers_video import make_marker_video
from torch import Tensor, nn

from avpc_plugin.audio.io import write_audio
from avpc_plugin.audio.stft import stft
from avpc_plugin.checkpoints.format import save_checkpoint
from avpc_plugin.cli import main as avpc_main
from avpc_plugin.evaluate.benchmark import read_manifest
from avpc_plugin.evaluate.tune import knob_values, score_candidates, tune_preset
from avpc_plugin.metrics import bss_eval
from avpc_plugin.nets import build_net
from avpc_plugin.nets.registry import register_net
from avpc_plugin.presets import (
    PRESETS_PATH_ENV,
    BandSettings,
    EffectSpec,
    MaskSettings,
    Preset,
    PresetError,
    ResidualSettings,
    SmoothingSettings,
    VisualSettings,
    load_preset,
    load_preset_file,
)
from avpc_plugin.separate import Separator, StemQuery, parse_stem_spec
from avpc_plugin.separate.fullrate import full_rate_stft_config, masks_to_full_rate
from avpc_plugin.separate.refine import smooth_mask
from avpc_plugin.stem_settings import reference_preset

RATE = 22050


@pytest.fixture(autouse=True)
def isolated_search_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env = tmp_path / "env"
    env.mkdir()
    monkeypatch.setenv(PRESETS_PATH_ENV, str(env))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return env


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_marker_video(tmp_path_factory.mktemp("presets") / "marker.mp4", frames=60)


def noise(seconds: float = 1.0, seed: int = 0, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((channels, int(RATE * seconds)))).astype(np.float32)


def tones(*hz: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.2 * sum(np.sin(2 * np.pi * f * t) for f in hz))[None].astype(np.float32)


class PatternMasks(ConstantMasks):
    """Fixed random logits per (bin, frame), std 2, the same in every window and for every stem."""

    def masks_from_features(self, mix_mag: Tensor, features: Tensor, cycles: Any = None) -> Tensor:
        pattern = 2.0 * torch.randn(256, 256, generator=torch.Generator().manual_seed(0))
        return pattern.expand(features.shape[0], features.shape[1], 256, 256).clone()


def energy_at(audio: np.ndarray, hz: float) -> float:
    """Power of the spectrum bin nearest ``hz`` (Hann-windowed, channel 0)."""
    spectrum = np.abs(np.fft.rfft(audio[0] * np.hanning(audio.shape[1]))) ** 2
    return float(spectrum[round(hz * audio.shape[1] / RATE)])


def separate_one(model: nn.Module, audio: np.ndarray, video: Path, preset: Any, **kw: Any) -> Any:
    separator = Separator(model, device="cpu", **kw)
    return separator.separate(audio, RATE, [StemQuery("a", video, preset=preset)])["a"]


def test_default_preset_sounds_like_no_preset(video: Path) -> None:
    audio = noise()
    plain = separate_one(PatternMasks(), audio, video, None)
    default = load_preset("default")
    np.testing.assert_allclose(separate_one(PatternMasks(), audio, video, default), plain)


def test_higher_threshold_gives_a_quieter_stem(video: Path) -> None:
    modes = {"soft": (0.0, 0.3, 0.5, 0.7), "binary": (0.3, 0.5, 0.7)}
    stems = [
        StemQuery(f"{mode}{t}", video, preset=Preset(mask=MaskSettings(mode, t)))  # type: ignore[arg-type]
        for mode, thresholds in modes.items()
        for t in thresholds
    ]
    result = Separator(PatternMasks(), device="cpu").separate(noise(), RATE, stems)
    for mode, thresholds in modes.items():
        energies = [float(np.sum(result[f"{mode}{t}"] ** 2)) for t in thresholds]
        assert all(a > b for a, b in itertools.pairwise(energies)), (mode, energies)


def test_a_stem_without_preset_follows_the_separators_default_preset(video: Path) -> None:
    audio = noise()
    by_option = separate_one(
        PatternMasks(), audio, video, None, default_preset=reference_preset(0.55)
    )
    by_preset = separate_one(
        PatternMasks(), audio, video, Preset(mask=MaskSettings("binary", 0.55))
    )
    np.testing.assert_allclose(by_preset, by_option)


def test_highpass_post_chain_removes_low_frequency_energy(video: Path) -> None:
    audio = tones(100.0, 3000.0)
    chain = (EffectSpec("HighpassFilter", params=(("cutoff_frequency_hz", 1000.0),)),)
    plain = separate_one(ConstantMasks(), audio, video, load_preset("default"))
    filtered = separate_one(ConstantMasks(), audio, video, Preset(post=chain))
    # pedalboard's HighpassFilter is first order (6 dB / octave): 3.3 octaves under the cutoff
    assert energy_at(filtered, 100.0) < 0.02 * energy_at(plain, 100.0)  # > 17 dB down
    assert energy_at(filtered, 3000.0) > 0.7 * energy_at(plain, 3000.0)  # within 1.5 dB


def test_post_chain_state_carries_across_blocks(video: Path) -> None:
    audio = noise(3.0, channels=2) * np.linspace(0.1, 3.0, int(RATE * 3.0), dtype=np.float32)
    chain = (
        EffectSpec("Compressor", params=(("threshold_db", -30.0), ("ratio", 4.0))),
        EffectSpec("Gain", params=(("gain_db", 6.0),)),
    )
    one = separate_one(ConstantMasks(), audio, video, Preset(post=chain), block_seconds=10.0)
    many = separate_one(ConstantMasks(), audio, video, Preset(post=chain), block_seconds=0.3)
    assert np.abs(one - audio).max() > 0.05  # the compressor acted
    np.testing.assert_allclose(many, one, atol=1e-5)


def test_band_limits_zero_the_bins_outside(video: Path) -> None:
    config = full_rate_stft_config(RATE)
    masks = masks_to_full_rate(
        torch.full((2, 512, 4), 0.8),
        0,
        torch.arange(3),
        config,
        RATE,
        ("top_bin", "zero"),
        [(500.0, 2000.0), (0.0, float("inf"))],
    )
    hz = torch.arange(config.bins) * RATE / config.n_fft
    inside = (hz >= 500) & (hz <= 2000)
    assert torch.all(masks[0, ~inside] == 0) and torch.allclose(masks[0, inside], torch.tensor(0.8))
    assert torch.all(masks[1, hz > 5512.5] == 0) and torch.all(masks[1, hz < 5500] == 0.8)

    audio = noise()
    out = separate_one(ConstantMasks(), audio, video, Preset(band=BandSettings(500.0, 2000.0)))
    power = stft(torch.from_numpy(out), config).abs().pow(2).mean(dim=(0, 2))
    outside = (hz < 400) | (hz > 2500)  # leaves room for the re-analysis window's leakage
    assert power[outside].max() < 1e-3 * power[inside].mean()
    assert power[outside].mean() < 1e-4 * power[inside].mean()


def test_high_band_rule_per_stem(video: Path) -> None:
    audio = noise()
    stems = [
        StemQuery("zero", video, preset=Preset(band=BandSettings(above_model="zero"))),
        StemQuery("one", video, preset=Preset(band=BandSettings(above_model="one"))),
    ]
    result = Separator(ConstantMasks((0.0,)), device="cpu").separate(audio, RATE, stems)
    config = full_rate_stft_config(RATE)
    hz = torch.arange(config.bins) * RATE / config.n_fft
    high = hz > 6000
    mix_power = stft(torch.from_numpy(audio), config).abs().pow(2).mean(dim=(0, 2))[high].mean()
    for name, expected in (("zero", 0.0), ("one", 1.0)):
        power = stft(torch.from_numpy(result[name]), config).abs().pow(2).mean(dim=(0, 2))
        assert float(power[high].mean() / mix_power) == pytest.approx(expected, abs=0.02)


def test_smoothing_averages_the_mask_over_time_and_frequency() -> None:
    probs = torch.rand(1, 1, 512, 256, generator=torch.Generator().manual_seed(0))
    smooth = smooth_mask(probs, SmoothingSettings(time_ms=50.0, freq_hz=20.0))
    assert smooth.shape == probs.shape
    assert smooth.diff(dim=-1).abs().mean() < 0.3 * probs.diff(dim=-1).abs().mean()
    assert smooth.diff(dim=-2).abs().mean() < 0.5 * probs.diff(dim=-2).abs().mean()
    assert float(smooth.mean()) == pytest.approx(float(probs.mean()), abs=1e-2)
    flat = torch.full((2, 512, 40), 0.3)
    assert torch.allclose(smooth_mask(flat, SmoothingSettings(100.0, 50.0)), flat)


def test_smoothing_changes_the_separated_stem(video: Path) -> None:
    audio = noise()
    plain = separate_one(PatternMasks(), audio, video, load_preset("default"))
    smoothed = separate_one(PatternMasks(), audio, video, Preset(smoothing=SmoothingSettings(50.0)))
    assert np.abs(smoothed - plain).max() > 1e-3


def test_more_cycles_change_the_mask(video: Path) -> None:
    torch.manual_seed(0)
    model = build_net("avpc", sound={"ngf": 4}).eval()
    stems = [
        StemQuery(f"cycles{c}", video, preset=Preset(mask=MaskSettings(cycles=c))) for c in (1, 4)
    ]
    stems.append(StemQuery("trained", video, preset=load_preset("default")))
    audio = noise(0.5)
    result = Separator(model, device="cpu").separate(audio, RATE, stems, cycles=1)
    assert np.abs(result["cycles1"] - result["cycles4"]).max() > 1e-4
    # a preset that leaves cycles at 0 takes the call's cycles
    np.testing.assert_allclose(result["trained"], result["cycles1"], atol=1e-6)


@pytest.mark.parametrize(
    ("rule", "residual_share"), [("masked", 0.5), ("processed", 0.75), ("none", 1.0)]
)
def test_residual_rules(video: Path, rule: str, residual_share: float) -> None:
    halve = (EffectSpec("Gain", params=(("gain_db", -20 * np.log10(2)),)),)
    preset = Preset(post=halve, residual=ResidualSettings(rule))  # type: ignore[arg-type]
    audio = noise()
    result = Separator(ConstantMasks((0.0,)), device="cpu").separate(
        audio, RATE, [StemQuery("a", video, preset=preset)], residual=True
    )
    np.testing.assert_allclose(result["a"], 0.25 * audio, atol=1e-5)  # mask 0.5, then -6 dB
    np.testing.assert_allclose(result["residual"], residual_share * audio, atol=1e-5)


def test_frames_per_window_follows_each_stem(video: Path) -> None:
    model = ConstantMasks()
    stems = [
        StemQuery("three", video, preset=load_preset("default")),
        StemQuery("five", video, preset=Preset(visual=VisualSettings(5, 1.0))),
        StemQuery("three_again", video, preset=Preset(mask=MaskSettings(threshold=0.5))),
    ]
    Separator(model, device="cpu").separate(noise(0.5), RATE, stems)
    # (B, N, 3, T, H, W): one call per setting; the same video question is embedded once
    assert sorted((frames.shape[1], frames.shape[3]) for frames in model.frames) == [(1, 3), (1, 5)]


def test_a_query_holds_a_preset_object_and_reads_no_file(video: Path) -> None:
    with pytest.raises(
        PresetError, match=r"stem 'a': preset: expected a Preset or None, got 'violin'"
    ):
        StemQuery("a", video, preset="violin")  # type: ignore[arg-type]


def test_a_spec_reads_its_preset_with_the_callers_loader(
    video: Path, isolated_search_path: Path
) -> None:
    with pytest.raises(ValueError, match="unknown preset 'violn'; did you mean"):
        parse_stem_spec("a=violn", video, load_preset)
    with pytest.raises(ValueError, match="this caller reads no presets by name"):
        parse_stem_spec("a=violin", video)
    (isolated_search_path / "fragile.toml").write_text("[mask]\nthreshold = 2.0\n")
    with pytest.raises(ValueError, match=r"--stem 'a=fragile': .*fragile.toml: mask.threshold"):
        parse_stem_spec("a=fragile", video, load_preset)
    assert parse_stem_spec("a=violin", video, load_preset).preset == load_preset("violin")


# ---------------------------------------------------------------------------------- bss_eval


def test_bss_eval_known_answers() -> None:
    rng = np.random.default_rng(3)
    reference = rng.standard_normal((2, 8000))
    noisy = reference + 0.1 * rng.standard_normal((2, 8000))  # 20 dB SNR
    scores = bss_eval(reference, noisy)
    assert set(scores) == {"sdr", "sir", "sar"} and scores["sdr"].shape == (2,)
    np.testing.assert_allclose(scores["sdr"], 20.0, atol=0.5)
    assert bss_eval(reference, reference)["sdr"].min() > 100
    silent = bss_eval(reference, np.stack([noisy[0], np.zeros(8000)]))
    assert np.isneginf(silent["sdr"][1]) and np.isfinite(silent["sdr"][0])
    with pytest.raises(ValueError, match="reference, estimate"):
        bss_eval(reference, noisy[:, :100])
    with pytest.raises(ValueError, match="all zeros"):
        bss_eval(np.zeros((1, 100)), noisy[:1, :100])


# -------------------------------------------------------------------------------------- tune


@register_net("test-level-masks")
class LevelNet(nn.Module):
    """Mask logits ``log(|mix| / 3)``: strong tone bins get ~1, weak noise bins ~0.25."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))
        self.config: dict[str, Any] = {}

    def visual_features(self, frames: Tensor) -> Tensor:
        return frames.mean(dim=(2, 3, 4, 5))

    def masks_from_features(self, mix_mag: Tensor, features: Tensor, cycles: Any = None) -> Tensor:
        logits = torch.log(mix_mag + 1e-6) - float(np.log(3.0))
        return logits.expand(-1, features.shape[1], -1, -1)


@pytest.fixture(scope="module")
def benchmark_set(tmp_path_factory: pytest.TempPathFactory, video: Path) -> Path:
    """Two mixtures of a harmonic 'violin' tone and a quieter noise 'cello', 11025 Hz, 0.6 s."""
    root = tmp_path_factory.mktemp("set")
    rate, seconds = 11025, 0.6
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(5)
    lines = []
    for index, pitch in enumerate((440.0, 587.3)):
        violin = sum(0.2 / k * np.sin(2 * np.pi * k * pitch * t) for k in (1, 2, 3))
        cello = 0.05 * rng.standard_normal(len(t))
        for name, audio in (("violin", violin), ("cello", cello), ("mix", violin + cello)):
            write_audio(
                root / f"{name}{index}.wav", np.asarray(audio, np.float32)[None], rate, "32f"
            )
        lines.append(
            json.dumps(
                {
                    "id": str(index),
                    "mix": f"mix{index}.wav",
                    "sources": [
                        {
                            "instrument": i,
                            "audio": f"{i}{index}.wav",
                            "video": str(video),
                            "box": None,
                        }
                        for i in ("violin", "cello")
                    ],
                }
            )
        )
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


SMALL_GRIDS = {"threshold": (0.0, 0.5, 0.7), "time_ms": (0.0, 40.0)}


def test_tune_improves_sdr_and_reports_the_score_it_reached(benchmark_set: Path) -> None:
    mixtures = read_manifest(benchmark_set)
    separator = Separator(LevelNet(), device="cpu")
    start = Preset(name="violin")
    result = tune_preset(separator, start, mixtures, "violin", SMALL_GRIDS)
    assert result.sources == 2 and len(result.tried) == 4  # the start is tried once
    assert result.best_sdr > result.start_sdr + 1.0  # the floor drops the noise-only bins
    assert result.best_sdr == max(score for _, score in result.tried)
    assert result.preset.mask.threshold > 0
    assert dict(result.preset.tuned)["sdr_db"] == pytest.approx(result.best_sdr, abs=1e-3)
    again = score_candidates(separator, [result.preset], [(m, m.sources[0]) for m in mixtures])
    assert again[0] == pytest.approx(result.best_sdr, abs=1e-6)

    # from the optimum nothing beats it: the preset and its score stay
    thresholds = {"threshold": SMALL_GRIDS["threshold"]}
    second = tune_preset(separator, result.preset, mixtures, "violin", thresholds)
    assert second.best_sdr == pytest.approx(second.start_sdr)
    assert knob_values(second.preset) == knob_values(result.preset)


def test_tune_never_lowers_sdr_when_every_change_hurts(benchmark_set: Path) -> None:
    mixtures = read_manifest(benchmark_set)
    start = Preset(name="violin", mask=MaskSettings(threshold=0.6))
    worse = {"threshold": (0.0, 0.95)}
    result = tune_preset(Separator(LevelNet(), device="cpu"), start, mixtures, "violin", worse)
    assert result.best_sdr == result.start_sdr
    assert knob_values(result.preset) == knob_values(start)
    assert all(score <= result.start_sdr for _, score in result.tried)
    with pytest.raises(ValueError, match="instrument 'tuba': no source"):
        tune_preset(Separator(LevelNet(), device="cpu"), start, mixtures, "tuba", worse)


def test_tune_cli_will_not_hide_a_shipped_preset_unless_named(
    benchmark_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AVPC_PRESETS_PATH", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    args = ["presets", "tune", "violin", "--set", str(benchmark_set), "--model", "nosuch"]
    refused = CliRunner().invoke(avpc_main, args)
    assert refused.exit_code != 0
    assert "'violin' is a shipped preset" in refused.output
    assert "--as violin-tuned" in refused.output
    named = CliRunner().invoke(avpc_main, [*args, "--as", "violin"])  # consent: on to the model
    assert "shipped preset" not in named.output and "--model nosuch" in named.output


def test_tune_cli_writes_the_tuned_preset(benchmark_set: Path, tmp_path: Path) -> None:
    model = save_checkpoint(LevelNet(), tmp_path / "models", "loudness")
    out = tmp_path / "tuned"
    args = [
        "presets",
        "tune",
        "violin",
        "--set",
        str(benchmark_set),
        "--model",
        str(model),
        "--out",
        str(out),
    ]
    args += ["--grid", "threshold=0.1,0.5"]
    result = CliRunner().invoke(avpc_main, args)
    assert result.exit_code == 0, result.output
    tuned = load_preset_file(out / "violin.toml")
    scores = dict(tuned.tuned)
    assert scores["instrument"] == "violin" and scores["sdr_db"] >= scores["start_sdr_db"]
    assert tuned.band == replace(tuned.band)  # every setting written out and loadable
    assert "already exists" in CliRunner().invoke(avpc_main, args).output
    assert "warning: tuned on only 2 violin source(s)" in result.output  # few sources
    description = tuned.description
    assert "tuned by avpc presets tune" in description and str(benchmark_set) in description
    assert dict(tuned.tuned)["date"][:10] in description  # when
    bad_grid = CliRunner().invoke(avpc_main, [*args[:-2], "--grid", "treshold=1", "--overwrite"])
    assert bad_grid.exit_code != 0 and "unknown knob 'treshold'" in bad_grid.output
