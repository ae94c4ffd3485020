"""The figures README.md and the model card quote are those their commands produce.

The results tables are made from the quality benchmark's JSON files, and the demo's score table
is what ``avpc demo`` prints on this machine: both are checked here, so a changed model, package
or sound file shows up as a failing test instead of a stale page.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_figures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("figures", ROOT / "benchmarks" / "figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = load_figures()


def test_the_results_tables_are_made_from_the_benchmark_files() -> None:
    assert figures.stale_blocks(figures.load_quality()) == [], (
        "rewrite them with: python benchmarks/figures.py --write"
    )


def test_a_changed_benchmark_file_makes_its_blocks_stale() -> None:
    runs = figures.load_quality()
    runs["seen"]["groups"]["2-source"][runs["seen"]["model"]]["overall"]["sdr"]["mean"] += 0.01
    assert figures.stale_blocks(runs) == [
        "README.md: block results",
        "models/cards/avpc-synth.md: block scores",
        "models/cards/sop-synth.md: block scores",
        "docs/benchmarks.md: block glance",
    ]


def test_the_demo_prints_the_readme_figures(tmp_path: Path) -> None:
    avpc = Path(sys.executable).parent / "avpc"
    done = subprocess.run(
        [str(avpc), "demo", "--out", str(tmp_path / "demo-out")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed = figures.score_rows(figures.demo_block(done.stdout))
    quoted = figures.score_rows(figures.read_block(figures.README.read_text(), "demo", "README"))
    assert printed and printed == quoted, (
        f"`avpc demo` printed {printed}, README.md shows {quoted}; if the change is meant, run "
        "make demo && python benchmarks/figures.py --write --demo-report demo-out/report.md"
    )
