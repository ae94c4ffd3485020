"""`avpc demo`: a short clip separated by a tiny random AVPC checkpoint, end to end; refusals."""

from __future__ import annotations

import re
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from avpc_plugin.audio.io import read_audio, write_audio
from avpc_plugin.audio.provenance import read_provenance
from avpc_plugin.checkpoints import registry
from avpc_plugin.checkpoints.format import save_checkpoint
from avpc_plugin.data.scene import SceneRecord
from avpc_plugin.demo import (
    FIGURE_FOOTER_PX,
    FIGURE_HEADER_PX,
    FIGURE_ROW_PX,
    FIGURE_WIDTH_PX,
    NO_MODEL_MESSAGE,
    log_spectrogram,
    parse_instruments,
    score_stems,
    stem_names,
    sum_error,
)
from avpc_plugin.demo.cli import demo_command
from avpc_plugin.nets import build_net
from avpc_plugin.separate import SilentResidualWarning

DURATION = 4.0
RATE = 44100


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def report_scores(report: str) -> dict[str, list[float]]:
    """Rows of the report's score table: stem -> [SDR, SIR, SAR, NSDR, mixture SDR]."""
    rows = re.findall(r"^\| (\w+) \|((?: -?[0-9.]+ \|){5})$", report, flags=re.MULTILINE)
    return {name: [float(v) for v in values.strip(" |").split(" | ")] for name, values in rows}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.manual_seed(0)
    return save_checkpoint(
        build_net("avpc", sound={"ngf": 4}), tmp_path_factory.mktemp("models"), "tiny"
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> tuple[Path, str]:
    """One 4 s demo into a folder that already holds a file (allowed by --overwrite)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("from an earlier run")
    result = CliRunner().invoke(
        demo_command,
        ["--out", str(out), "--model", str(tiny_model), "--duration", str(DURATION), "--overwrite"],
    )
    assert result.exit_code == 0, result.output
    return out, result.output


def test_demo_writes_stems_png_and_report(demo_run: tuple[Path, str], tiny_model: Path) -> None:
    out, output = demo_run
    for name in ("violin", "cello", "residual"):
        audio, rate = read_audio(out / "stems" / f"{name}.wav")
        assert rate == RATE and audio.shape == (2, round(DURATION * RATE))
        assert np.isfinite(audio).all()
    rows = 2 + 1  # two performers, then mix vs residual
    assert png_size(out / "spectrograms.png") == (
        FIGURE_WIDTH_PX,
        FIGURE_HEADER_PX + FIGURE_FOOTER_PX + FIGURE_ROW_PX * rows,
    )
    report = (out / "report.md").read_text()
    assert tiny_model.name in report
    assert tiny_model.name.split("-")[-1].removesuffix(".pt") in report  # sha256 prefix
    assert "| stem | SDR | SIR | SAR | NSDR | mixture SDR |" in report
    assert "real-time factor" in report
    assert set(report_scores(report)) == {"violin", "cello"}
    assert "| violin |" in output and "max abs error" in output  # the printed summary
    assert (out / "earlier.txt").exists()  # --overwrite replaces the demo's files only
    assert "| masks | normalised across the stems |" in report
    assert "violin (preset none), cello (preset none)" in report


def test_demo_normalised_stems_alone_sum_to_the_mix(demo_run: tuple[Path, str]) -> None:
    """By default the performers' masks share every bin: the residual is float noise."""
    out, _ = demo_run
    mix, _ = read_audio(out / "scene" / "mix.wav")
    stems = sum(read_audio(out / "stems" / f"{n}.wav")[0] for n in ("violin", "cello"))
    residual, _ = read_audio(out / "stems" / "residual.wav")
    assert np.abs(stems - mix).max() < 1e-4
    assert np.abs(residual).max() < 1e-4 < np.abs(mix).max()


def test_demo_with_presets_and_masks_on_their_own(tmp_path: Path, tiny_model: Path) -> None:
    """``--presets --no-normalise``: each stem goes through its preset's chain, the residual
    takes the rest, and the three still sum to the mix."""
    out = tmp_path / "out"
    args = ["--out", str(out), "--model", str(tiny_model), "--duration", "2"]
    result = CliRunner().invoke(demo_command, [*args, "--presets", "--no-normalise"])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "| masks | each on its own |" in report
    assert "violin (preset violin), cello (preset cello)" in report
    assert "shaped by its instrument's preset" in report
    mix, _ = read_audio(out / "scene" / "mix.wav")
    parts = [read_audio(out / "stems" / f"{n}.wav")[0] for n in ("violin", "cello", "residual")]
    assert np.abs(sum(parts) - mix).max() < 1e-4
    assert np.abs(parts[2]).max() > 1e-3  # the masks leave part of the mix to the residual


def test_demo_report_scores_are_those_of_the_written_stems(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    scene = SceneRecord(
        folder=out / "scene",
        video=out / "scene" / "scene.mp4",
        mix=out / "scene" / "mix.wav",
        solos=[out / "scene" / "solo_0.wav", out / "scene" / "solo_1.wav"],
        boxes=[(0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 0.5, 1.0)],
        instruments=["violin", "cello"],
        sample_rate=RATE,
        channels=2,
        duration=DURATION,
        fps=25.0,
        performers=[],
    )
    from avpc_plugin.separate import StemQuery

    queries = [StemQuery("violin"), StemQuery("cello")]
    stems = {q.name: out / "stems" / f"{q.name}.wav" for q in queries}
    scores = score_stems(scene, stems, queries)
    table = report_scores((out / "report.md").read_text())
    for k, query in enumerate(queries):
        expected = [scores[key][k] for key in ("sdr", "sir", "sar", "nsdr", "sdr_mix")]
        np.testing.assert_allclose(table[query.name], expected, atol=0.006)
        assert table[query.name][3] == pytest.approx(
            table[query.name][0] - table[query.name][4], abs=0.011
        )


def test_demo_stems_and_residual_sum_to_the_mix(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    mix, _ = read_audio(out / "scene" / "mix.wav")
    total = sum(read_audio(out / "stems" / f"{n}.wav")[0] for n in ("violin", "cello", "residual"))
    assert np.abs(total - mix).max() < 1e-4
    stem, _ = read_audio(out / "stems" / "violin.wav")
    assert np.abs(stem).max() > 1e-3  # a real separation, not silence


def test_demo_without_any_model_fails_with_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("AVPC_MODELS_PATH", str(empty))
    monkeypatch.setenv("XDG_DATA_HOME", str(empty))
    monkeypatch.setattr(registry, "project_models_dir", lambda: empty)
    out = tmp_path / "out"
    result = CliRunner().invoke(demo_command, ["--out", str(out), "--duration", str(DURATION)])
    assert result.exit_code != 0
    assert result.output.strip() == f"Error: {NO_MODEL_MESSAGE}"
    assert "--model PATH" in NO_MODEL_MESSAGE
    assert not out.exists()  # nothing built before the model is known


def test_demo_refuses_an_existing_out_without_overwrite(tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("keep me")
    result = CliRunner().invoke(demo_command, ["--out", str(out), "--model", str(tiny_model)])
    assert result.exit_code != 0
    assert "already exists" in result.output and "--overwrite" in result.output
    assert (out / "report.md").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["report.md"]


def test_demo_unknown_model_name_and_instrument_are_named(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(demo_command, ["--out", str(tmp_path / "a"), "--model", "no-such"])
    assert result.exit_code != 0 and "--model no-such" in result.output
    result = runner.invoke(
        demo_command, ["--out", str(tmp_path / "b"), "--instruments", "violin,kazoo"]
    )
    assert result.exit_code != 0 and "kazoo" in result.output


def test_parse_instruments_and_stem_names() -> None:
    assert parse_instruments(" violin, cello ") == ["violin", "cello"]
    with pytest.raises(ValueError, match="2 to 4"):
        parse_instruments("violin")
    assert stem_names(["violin", "violin", "cello", "violin"]) == [
        "violin",
        "violin_2",
        "cello",
        "violin_3",
    ]


def test_log_spectrogram_puts_a_sine_on_its_row() -> None:
    t = np.arange(RATE) / RATE
    tone = np.stack([np.sin(2 * np.pi * 440.0 * t)] * 2).astype(np.float32)
    magnitude, row_hz = log_spectrogram(tone, RATE, rows=200)
    assert magnitude.shape[0] == 200 and row_hz[-1] == pytest.approx(RATE / 2)
    assert np.all(np.diff(np.log(row_hz)) == pytest.approx(np.log(row_hz[1] / row_hz[0])))
    peak_row = int(magnitude[:, magnitude.shape[1] // 2].argmax())
    assert row_hz[peak_row] == pytest.approx(440.0, rel=0.03)


def test_sum_error_is_the_largest_difference(tmp_path: Path) -> None:
    mix = np.zeros((2, 100), np.float32)
    mix[1, 10] = 0.5
    a, b = mix * 0.25, mix * 0.5
    b[0, 3] = 0.125  # the parts miss the mix by 0.125 here and by 0.125 at [1, 10]
    for name, audio in (("mix", mix), ("a", a), ("b", b)):
        write_audio(tmp_path / f"{name}.wav", audio, RATE, "32f")
    error = sum_error(tmp_path / "mix.wav", [tmp_path / "a.wav", tmp_path / "b.wav"])
    assert error == pytest.approx(0.125)


def test_demo_overwrite_clears_its_own_old_files_and_keeps_others(
    tmp_path: Path, tiny_model: Path
) -> None:
    out = tmp_path / "out"
    args = ["--out", str(out), "--model", str(tiny_model), "--duration", "1", "--overwrite"]
    first = CliRunner().invoke(demo_command, [*args, "--instruments", "violin,flute,cello"])
    assert first.exit_code == 0, first.output
    (out / "stems" / "my take.wav").write_bytes(b"mine")  # not the demo's: kept
    (out / "notes.txt").write_text("mine")
    second = CliRunner().invoke(demo_command, [*args, "--instruments", "violin,cello"])
    assert second.exit_code == 0, second.output
    stems = sorted(p.name for p in (out / "stems").iterdir())
    assert stems == ["cello.wav", "my take.wav", "residual.wav", "violin.wav"]  # no flute.wav
    solos = sorted(p.name for p in (out / "scene").iterdir() if p.name.startswith("solo_"))
    assert solos == ["solo_0.wav", "solo_1.wav"]
    assert (out / "notes.txt").read_text() == "mine"


def test_the_demos_normalised_residual_is_silent_without_a_warning(
    tmp_path: Path, tiny_model: Path
) -> None:
    # the performers name every instrument, so the residual is meant to be silent: no warning
    # in the middle of the progress bar (a plain separation with --normalise does get a note)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = ["--out", str(tmp_path / "out"), "--model", str(tiny_model)]
        result = CliRunner().invoke(demo_command, [*args, "--duration", str(DURATION)])
    assert result.exit_code == 0, result.output
    assert not [w for w in caught if issubclass(w.category, SilentResidualWarning)]


def test_demo_stems_record_their_model(demo_run: tuple[Path, str], tiny_model: Path) -> None:
    out, _ = demo_run
    fields = read_provenance(out / "stems" / "violin.wav")
    assert fields["AVPC_MODEL"] == tiny_model.name and len(fields["AVPC_MODEL_SHA256"]) == 16
