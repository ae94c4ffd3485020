"""benchmarks/quality.py end to end on a tiny tone benchmark set with two tiny models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers_train import write_tiny_model_pair, write_tone_benchmark

from avpc_plugin.checkpoints.format import load_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "quality.py"


def test_quality_report_has_every_system_the_parameters_and_the_cycle_sweep(
    tmp_path: Path,
) -> None:
    bench = tmp_path / "bench"
    write_tone_benchmark(bench, count=1)
    avpc_file, sop_file = write_tiny_model_pair(tmp_path)
    out = tmp_path / "report"
    command = [sys.executable, str(SCRIPT), "--set", str(bench), "--model", str(avpc_file),
               "--baseline", str(sop_file), "--cycles", "1,3", "--device", "cpu",
               "--normalise", "--workers", "0", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr

    report = json.loads((out / "quality.json").read_text())
    names = [avpc_file.stem, sop_file.stem]
    assert report["systems"] == [*names, "mixture", "ideal_binary_mask", "ideal_ratio_mask"]
    assert report["mixtures"] == {"2-source": 1}
    systems = report["groups"]["2-source"]
    assert set(systems) == set(report["systems"])
    assert systems["mixture"]["overall"]["nsdr"]["mean"] == 0.0
    assert systems["ideal_ratio_mask"]["overall"]["sdr"]["mean"] > 10
    assert "overall" in systems[names[1]] and all(
        k.startswith("tone") for k in systems[names[1]] if k != "overall"
    )
    assert report["sound_net_parameters"] == {
        name: sum(p.numel() for p in load_checkpoint(file).model.sound_net.parameters())
        for name, file in zip(names, (avpc_file, sop_file), strict=True)
    }
    assert list(report["cycles"]) == ["1", "3"]
    markdown = (out / "quality.md").read_text()
    assert "**2-source mixtures** (1)" in markdown and "| ideal_ratio_mask |" in markdown
    assert report["normalise"] is True and "normalised across each mixture's sources" in markdown
    for metric in ("SDR", "SIR", "SAR", "NSDR"):
        assert f"2-source, {metric} per instrument (mean):" in markdown
    assert (out / "quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
