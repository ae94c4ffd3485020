"""``avpc separate`` on a small corpus of broken media: every file ends as ok, ok with a note, or
one clear error line; never a crash, never a file under a final name that is not whole."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from helpers_separation import IdentitySeparation
from helpers_video import make_camera_mp4

from avpc_plugin.audio.io import read_audio, write_audio
from avpc_plugin.checkpoints.format import save_checkpoint
from avpc_plugin.separate.cli import separate_command

CUTS = (0.004, 0.1, 0.3, 0.5, 0.75, 0.9, 0.99)
"""Fractions of a whole faststart mp4's bytes kept: inside the index, then through the data."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fuzz")
    folder = root / "in"
    folder.mkdir()
    whole = make_camera_mp4(folder / "whole.mp4", seconds=3.0)
    data = whole.read_bytes()
    for fraction in CUTS:  # the index states 3 s; the data stops early (or the index does)
        (folder / f"cut-{round(fraction * 1000):04d}.mp4").write_bytes(
            data[: round(len(data) * fraction)]
        )
    garbled = bytearray(data)
    garbled[:64] = b"\x00not an mp4 header at all\x00".ljust(64, b"\xff")
    (folder / "wrong-header.mp4").write_bytes(bytes(garbled))
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "noise.mov").write_bytes(np.random.default_rng(5).bytes(20_000))
    return {
        "folder": folder,
        "model": save_checkpoint(IdentitySeparation(), root / "models", "identity"),
        "inputs": sorted(p for p in folder.iterdir()),
    }


def _rows(output: str, inputs: list[Path]) -> dict[Path, str]:
    """Each input's one row of the summary table (the line that starts with its path)."""
    rows: dict[Path, str] = {}
    for line in output.splitlines():
        for path in inputs:
            if line.startswith(f"{path} "):
                assert path not in rows, f"two rows for {path}"
                rows[path] = line[len(str(path)) :].strip()
    return rows


@pytest.mark.parametrize("strict", [False, True])
def test_broken_media_end_ok_noted_or_in_one_clear_line(
    corpus: dict[str, Any], tmp_path: Path, strict: bool
) -> None:
    out = tmp_path / "out"
    args = [corpus["folder"], "--stem", "s", "-o", out, "--model", corpus["model"]]
    args += ["--bit-depth", "32f"] + (["--strict"] if strict else [])
    began = time.monotonic()
    # catch_exceptions=False: any exception escaping the command (a crash) fails the test
    result = CliRunner().invoke(separate_command, [str(a) for a in args], catch_exceptions=False)
    assert time.monotonic() - began < 120
    output = result.output
    assert "Traceback" not in output
    rows = _rows(output, corpus["inputs"])
    assert set(rows) == set(corpus["inputs"]), output
    notes = [line for line in output.splitlines() if line.startswith("note: ")]
    for path, row in rows.items():
        status, detail = row.split()[0], row.split(maxsplit=5)[-1]
        assert status in ("ok", "FAILED"), row
        assert detail and detail != "-", row  # a failure says why, on its one line
        noted = [note for note in notes if note.startswith(f"note: {path}")]
        if path.name == "whole.mp4":
            assert status == "ok" and not noted, (row, noted)
        elif status == "ok":  # a cut-off file that still decodes: noted, never silently short
            assert noted and "truncated" in " ".join(noted), (row, notes)
        if status == "ok":
            stem, rate = read_audio(out / path.stem / "s.wav")
            source, source_rate = read_audio(path)  # the input as far as it decodes
            assert rate == source_rate and stem.shape == source.shape, row
            assert np.abs(stem - source).max() < 1e-4  # whole: every sample is there
        else:
            assert not (out / path.stem).exists(), row  # nothing under a final name
    assert rows[corpus["folder"] / "whole.mp4"].startswith("ok")
    assert rows[corpus["folder"] / "empty.mp4"].startswith("FAILED")
    assert "empty file (0 bytes)" in rows[corpus["folder"] / "empty.mp4"]
    assert rows[corpus["folder"] / "noise.mov"].startswith("FAILED")
    cut_ok = [p for p, row in rows.items() if p.name.startswith("cut-") and row.startswith("ok")]
    if strict:
        assert cut_ok == []  # every repaired input fails
    else:
        assert len(cut_ok) >= 3, output  # the data cut short: read as far as it goes
    assert [p for p in out.rglob(".*") if p.is_file()] == []  # no partial files
    assert result.exit_code == 1


def test_footage_that_decodes_short_of_its_stated_length_is_held_and_noted(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    # whole audio, footage cut at half its bytes: the video says 3 s but decodes to about 1.4 s
    audio, rate = read_audio(corpus["folder"] / "whole.mp4")
    wav = write_audio(tmp_path / "take.wav", audio, rate, "32f")
    args = [wav, "--video", corpus["folder"] / "cut-0500.mp4", "--stem", "s", "-o", tmp_path]
    result = CliRunner().invoke(
        separate_command, [str(a) for a in [*args, "--model", corpus["model"]]]
    )
    assert result.exit_code == 0, result.output
    assert "note: " in result.output and "says it lasts 3.00 s but decodes only to" in (
        result.output
    )
    assert "its last frame is held for the last" in result.output
    assert read_audio(tmp_path / "take" / "s.wav")[0].shape == audio.shape
