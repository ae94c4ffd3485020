"""avpc evaluate on a tiny generated benchmark set: the table, JSON and Markdown, reference rows."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers_train import ToneMixtures, write_tone_benchmark

from avpc_plugin.audio.io import read_audio
from avpc_plugin.audio.stft import MODEL_RATE
from avpc_plugin.checkpoints.format import save_checkpoint
from avpc_plugin.evaluate.benchmark import (
    BenchmarkMixture,
    evaluate_benchmark,
    instrument_presets,
    oracle_estimates,
    read_manifest,
    separator_function,
)
from avpc_plugin.evaluate.cli import evaluate_command, report_suffix
from avpc_plugin.metrics import bss_eval
from avpc_plugin.nets import build_net
from avpc_plugin.presets import PRESETS_PATH_ENV
from avpc_plugin.separate import Separator
from avpc_plugin.stem_settings import reference_preset


def tiny_model_and_benchmark(tmp_path: Path) -> tuple[Path, Path]:
    """A one-mixture tone benchmark set and an untrained tiny AVPC checkpoint (seed 0)."""
    torch.manual_seed(0)
    bench = tmp_path / "bench"
    write_tone_benchmark(bench)
    model = build_net("avpc", visual={"freeze_trunk": True}, sound={"ngf": 4, "train_cycles": 1})
    return bench, save_checkpoint(model, tmp_path, "tiny")


def test_oracle_masks_beat_the_mixture() -> None:
    item = ToneMixtures(count=1).items[0]
    reference, mix = item["audios"].double().numpy(), item["mix"].double().numpy()
    oracle = oracle_estimates(reference, mix)
    mixture_sdr = bss_eval(reference, np.stack([mix, mix]))["sdr"]
    for estimate in oracle.values():
        assert (bss_eval(reference, estimate)["sdr"] > mixture_sdr + 8).all()
    # ratio masks sum to one: the oracle estimates add back up to the mixture
    np.testing.assert_allclose(oracle["ideal_ratio_mask"].sum(0), mix, atol=1e-6)


def test_evaluate_writes_table_json_and_markdown(tmp_path: Path) -> None:
    bench, checkpoint = tiny_model_and_benchmark(tmp_path)
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        evaluate_command,
        ["--set", str(bench), "--model", str(checkpoint), "--soft", "--cycles", "2",
         "--out", str(out), "--device", "cpu", "--workers", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ideal ratio mask" in result.output and "overall" in result.output
    # options other than the reference's are in the names, so runs with other options do not
    # write over each other
    report = json.loads((out / f"eval-bench-{checkpoint.stem}-cycles2-soft.json").read_text())
    summary = report["summary"]
    assert set(summary) == {"model", "mixture", "ideal_binary_mask", "ideal_ratio_mask"}
    assert summary["mixture"]["overall"]["nsdr"]["mean"] == 0.0
    assert summary["ideal_ratio_mask"]["overall"]["sdr"]["mean"] > 10
    assert set(summary["model"]) == {"overall", "tone0", "tone1"}
    assert len(report["rows"]) == 2 * 4  # 2 sources x 4 systems
    assert report["info"]["cycles"] == 2
    markdown = (out / f"eval-bench-{checkpoint.stem}-cycles2-soft.md").read_text()
    assert markdown.startswith("# Separation quality") and "| model | overall |" in markdown


def test_report_names_carry_every_option_that_is_not_the_reference() -> None:
    assert report_suffix(None, 0.5, False, False, False) == ""
    assert report_suffix(3, 0.3, False, True, False) == "-cycles3-threshold0.3-normalised"
    assert report_suffix(None, 0.3, True, False, False) == "-soft"
    assert report_suffix(None, 0.3, True, False, True) == "-presets"  # presets set the masks


def test_evaluate_rejects_a_folder_without_manifest(tmp_path: Path) -> None:
    result = CliRunner().invoke(evaluate_command, ["--set", str(tmp_path), "--model", "x.pt"])
    assert result.exit_code != 0 and "manifest.jsonl" in result.output
    assert isinstance(evaluate_command, click.Command)


def test_scoring_processes_give_the_same_rows_in_order(tmp_path: Path) -> None:
    write_tone_benchmark(tmp_path, count=3)
    mixtures = read_manifest(tmp_path)

    def separate(mixture: object, mix: np.ndarray) -> np.ndarray:
        return np.stack([0.7 * mix, 0.3 * mix + 0.01 * np.sin(np.arange(len(mix)))])

    calls: list[tuple[int, int]] = []
    here = evaluate_benchmark(mixtures, separate)
    pooled = evaluate_benchmark(mixtures, separate, progress=lambda *c: calls.append(c), workers=2)
    assert pooled.rows == here.rows and pooled.summary == here.summary
    assert calls == [(k, len(mixtures)) for k in range(1, len(mixtures) + 1)]


def test_a_set_of_mixed_sizes_is_also_summarised_per_size(tmp_path: Path) -> None:
    """2- and 3-source scores are not comparable: a set with both gets a group for each."""
    write_tone_benchmark(tmp_path, count=2)
    manifest = tmp_path / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    solo = json.loads(lines[1])
    solo["sources"] = solo["sources"][:1]  # a 1-source entry: its mix holds the other tone too
    manifest.write_text(lines[0] + "\n" + json.dumps(solo) + "\n")

    def separate(mixture: BenchmarkMixture, mix: np.ndarray) -> np.ndarray:
        sources = len(mixture.sources)
        return np.stack([mix / sources] * sources)

    result = evaluate_benchmark(read_manifest(tmp_path), separate)
    assert {r["sources"] for r in result.rows} == {1, 2}
    model = result.summary["model"]
    assert list(model)[:3] == ["overall", "1-source", "2-source"]
    counts = {group: model[group]["sdr"]["count"] for group in ("overall", "1-source", "2-source")}
    assert counts == {"overall": 3, "1-source": 1, "2-source": 2}
    two = [r["sdr"] for r in result.rows if r["system"] == "model" and r["sources"] == 2]
    assert model["2-source"]["sdr"]["mean"] == np.mean(two)
    # A set of one size keeps the plain layout (overall, then instruments).
    manifest.write_text(lines[0] + "\n")
    single = evaluate_benchmark(read_manifest(tmp_path), separate).summary["model"]
    assert set(single) == {"overall", "tone0", "tone1"}


def test_normalised_estimates_sum_to_the_mix_and_the_report_says_so(tmp_path: Path) -> None:
    bench, checkpoint = tiny_model_and_benchmark(tmp_path)
    separator = Separator.from_pretrained(
        str(checkpoint), device="cpu", default_preset=reference_preset(0.5)
    )
    mixture = read_manifest(bench)[0]
    audio, rate = read_audio(mixture.mix)
    assert rate == MODEL_RATE
    mix = audio.mean(0)

    shared = separator_function(separator, normalise=True)(mixture, mix)
    alone = separator_function(separator)(mixture, mix)
    assert shared.shape == alone.shape == (2, mix.shape[-1])
    # every bin is split among the sources, so the estimates add back up to the mix ...
    np.testing.assert_allclose(shared.sum(0), mix, atol=1e-4)
    # ... which independent binary masks of an untrained net do not
    assert np.abs(alone.sum(0) - mix).max() > 1e-2

    out = tmp_path / "reports"
    result = CliRunner().invoke(
        evaluate_command,
        ["--set", str(bench), "--model", str(checkpoint), "--normalise", "--out", str(out),
         "--device", "cpu", "--workers", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / f"eval-bench-{checkpoint.stem}-normalised.json").read_text())
    assert report["info"]["masks"] == "binary > 0.5, normalised across the sources"


def write_tone_presets(
    folder: Path, body: str, names: tuple[str, ...] = ("tone0", "tone1")
) -> None:
    """One preset file per tone instrument of the tone benchmark, each holding ``body``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.toml").write_text(f'inherits = "default"\n{body}')


def test_presets_that_binarise_at_half_reproduce_the_reference_estimates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench, checkpoint = tiny_model_and_benchmark(tmp_path)
    monkeypatch.setenv(PRESETS_PATH_ENV, str(tmp_path / "presets"))
    write_tone_presets(tmp_path / "presets", '[mask]\nmode = "binary"\nthreshold = 0.5\n')
    separator = Separator.from_pretrained(
        str(checkpoint), device="cpu", default_preset=reference_preset(0.5)
    )
    mixtures = read_manifest(bench)
    mix = read_audio(mixtures[0].mix)[0].mean(0)
    presets = instrument_presets(mixtures)
    assert sorted(presets) == ["tone0", "tone1"]

    reference = separator_function(separator)(mixtures[0], mix)
    np.testing.assert_allclose(
        separator_function(separator, presets=presets)(mixtures[0], mix), reference, atol=1e-6
    )

    # a preset's band is applied: nothing of either estimate above 300 Hz (the tones' harmonics
    # sit at 196, 392, 588 Hz and 392, 784, 1176 Hz)
    write_tone_presets(tmp_path / "presets", "[band]\nhigh_hz = 300.0\n")
    banded = separator_function(separator, presets=instrument_presets(mixtures))(mixtures[0], mix)
    spectrum = np.abs(np.fft.rfft(banded, axis=-1)) ** 2
    above = np.fft.rfftfreq(mix.shape[-1], 1 / MODEL_RATE) > 350
    assert spectrum[:, above].sum() < 1e-4 * spectrum.sum()
    plain = np.abs(np.fft.rfft(reference, axis=-1)) ** 2
    assert plain[:, above].sum() > 1e-2 * plain.sum()


def test_evaluate_with_presets_names_them_in_the_report_and_a_missing_one_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench, checkpoint = tiny_model_and_benchmark(tmp_path)
    monkeypatch.setenv(PRESETS_PATH_ENV, str(tmp_path / "presets"))
    write_tone_presets(tmp_path / "presets", "[smoothing]\ntime_ms = 40.0\n", names=("tone0",))
    args = ["--set", str(bench), "--model", str(checkpoint), "--presets", "--out",
            str(tmp_path / "reports"), "--device", "cpu", "--workers", "0"]  # fmt: skip

    for mask_option in (["--soft"], ["--threshold", "0.3"]):
        mixed = CliRunner().invoke(evaluate_command, [*args, *mask_option])
        assert mixed.exit_code == 2 and "--presets takes every mask setting" in mixed.output

    missing = CliRunner().invoke(evaluate_command, args)
    assert missing.exit_code != 0
    assert "--presets: instrument 'tone1'" in missing.output and "unknown preset" in missing.output
    assert not (tmp_path / "reports").exists()

    write_tone_presets(tmp_path / "presets", "[smoothing]\ntime_ms = 40.0\n", names=("tone1",))
    result = CliRunner().invoke(evaluate_command, args)
    assert result.exit_code == 0, result.output
    report = json.loads(
        (tmp_path / "reports" / f"eval-bench-{checkpoint.stem}-presets.json").read_text()
    )
    assert report["info"]["masks"] == "each source's instrument preset"
    assert set(report["summary"]["model"]) == {"overall", "tone0", "tone1"}
