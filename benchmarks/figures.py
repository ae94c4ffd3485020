"""The measured figures quoted in README.md and the model cards, made from the files that
measured them, so that no hand-typed copy can drift.

A quoted figure lives in a marked block, ``<!-- figures:NAME -->`` ... ``<!-- /figures:NAME -->``:

- ``results`` (README.md), ``glance`` (docs/benchmarks.md) and ``scores`` (the model cards):
  tables rendered from the quality benchmark's JSON files (``docs/quality*/quality.json``,
  written by ``benchmarks/quality.py``);
- ``demo`` (README.md): the score table ``avpc demo`` prints, copied from a demo's report.

    python benchmarks/figures.py --check                      # exit 1 when a block is stale
    python benchmarks/figures.py --write --demo-report demo-out/report.md

The test suite checks the JSON-made blocks, and runs the demo to check the ``demo`` block
against what it prints (tests/test_published_figures.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEFAULT_CARD = ROOT / "models" / "cards" / "avpc-synth.md"
BASELINE_CARD = ROOT / "models" / "cards" / "sop-synth.md"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
QUALITY = {
    "val": ROOT / "docs" / "quality" / "quality.json",
    "val, normalised": ROOT / "docs" / "quality-normalised" / "quality.json",
    "seen": ROOT / "docs" / "quality-seen" / "quality.json",
    "seen, normalised": ROOT / "docs" / "quality-normalised-seen" / "quality.json",
}
"""The quality benchmark runs the tables quote, by set and mask mode."""

SCORE_ROW = re.compile(r"^\| ([\w+-]+) \|((?: -?[0-9.]+ \|)+)$", flags=re.MULTILINE)


def block_pattern(name: str) -> re.Pattern[str]:
    """The marked block ``name``: group 1 is its content, without the marker lines."""
    return re.compile(
        rf"<!-- figures:{re.escape(name)} -->\n(.*?)<!-- /figures:{re.escape(name)} -->\n",
        flags=re.DOTALL,
    )


def read_block(text: str, name: str, where: Path) -> str:
    """The content of block ``name`` in ``text`` (read from ``where``, named in the error)."""
    match = block_pattern(name).search(text)
    if match is None:
        raise KeyError(f"{where}: no '<!-- figures:{name} -->' block")
    return match.group(1)


def replace_block(text: str, name: str, content: str, where: Path) -> str:
    """``text`` with block ``name``'s content replaced by ``content``."""
    read_block(text, name, where)
    marked = f"<!-- figures:{name} -->\n{content}<!-- /figures:{name} -->\n"
    return block_pattern(name).sub(lambda _: marked, text, count=1)


def score_rows(table: str) -> dict[str, list[float]]:
    """The numeric rows of a Markdown table: first cell -> the numbers of the others."""
    return {
        name: [float(v) for v in values.strip(" |").split(" | ")]
        for name, values in SCORE_ROW.findall(table)
    }


def load_quality(paths: dict[str, Path] = QUALITY) -> dict[str, dict[str, Any]]:
    """The quality runs' JSON, by the names of :data:`QUALITY`."""
    return {name: json.loads(path.read_text()) for name, path in paths.items()}


def mean(run: dict[str, Any], group: str, system: str, metric: str) -> float:
    """A system's mean ``metric`` (dB) over a run's ``group`` (``"2-source"``, ...)."""
    return float(run["groups"][group][system]["overall"][metric]["mean"])


def results_table(runs: dict[str, dict[str, Any]]) -> str:
    """README's table: 2-source SDR / NSDR on both sets for the model, the model with
    normalised masks, the baseline and the ideal ratio mask."""
    model, baseline = runs["val"]["model"], runs["val"]["baseline"]
    rows = [
        (f"`{model}` (default)", "", model),
        (f"`{model}`, `--normalise`", ", normalised", model),
        (f"`{baseline}` (Sound-of-Pixels baseline)", "", baseline),
        ("ideal ratio mask (the ceiling)", "", "ideal_ratio_mask"),
    ]
    lines = [
        "| system | val set SDR | val set NSDR | seen set SDR | seen set NSDR |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, mode, system in rows:
        cells = [
            f"{mean(runs[f'{split}{mode}'], '2-source', system, metric):.2f}"
            for split in ("val", "seen")
            for metric in ("sdr", "nsdr")
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def card_scores_table(runs: dict[str, dict[str, Any]]) -> str:
    """The model card's table: SDR / NSDR by set and mixture size, and the baseline's SDR."""
    model, baseline = runs["val"]["model"], runs["val"]["baseline"]
    lines = [
        "| | unseen sounds and pictures (val set) | seen sounds and pictures, new performances |",
        "|---|---:|---:|",
    ]
    for group in ("2-source", "3-source"):
        cells = [
            f"{mean(runs[s], group, model, 'sdr'):.2f} / {mean(runs[s], group, model, 'nsdr'):.2f}"
            for s in ("val", "seen")
        ]
        lines.append(f"| {group} SDR / NSDR | {cells[0]} dB | {cells[1]} dB |")
    cells = [f"{mean(runs[s], '2-source', baseline, 'sdr'):.2f}" for s in ("val", "seen")]
    lines.append(f"| the baseline `{baseline}`, 2-source SDR | {cells[0]} dB | {cells[1]} dB |")
    return "\n".join(lines) + "\n"


def baseline_card_table(runs: dict[str, dict[str, Any]]) -> str:
    """The baseline's card: its 2-source SDR / NSDR on both sets beside the default model's."""
    lines = ["| 2-source mixtures | val set SDR / NSDR | seen set SDR / NSDR |", "|---|---:|---:|"]
    for system in (runs["val"]["baseline"], runs["val"]["model"]):
        cells = [
            f"{mean(runs[s], '2-source', system, 'sdr'):.2f} / "
            f"{mean(runs[s], '2-source', system, 'nsdr'):.2f} dB"
            for s in ("val", "seen")
        ]
        lines.append(f"| `{system}` | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def demo_block(report: str) -> str:
    """The score table of a demo's ``report.md`` (or of what ``avpc demo`` printed)."""
    start = report.index("| stem | SDR |")
    lines = report[start:].splitlines()
    end = next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))
    return "\n".join(lines[:end]) + "\n"


JSON_BLOCKS: dict[tuple[Path, str], Callable[[dict[str, dict[str, Any]]], str]] = {
    (README, "results"): results_table,
    (DEFAULT_CARD, "scores"): card_scores_table,
    (BASELINE_CARD, "scores"): baseline_card_table,
    (BENCHMARKS, "glance"): results_table,
}
"""The blocks made from the quality runs, by file and block name."""


def stale_blocks(runs: dict[str, dict[str, Any]]) -> list[str]:
    """``"FILE: block NAME"`` for each JSON-made block whose content differs from its source."""
    return [
        f"{path.relative_to(ROOT)}: block {name}"
        for (path, name), render in JSON_BLOCKS.items()
        if read_block(path.read_text(), name, path) != render(runs)
    ]


def write_blocks(runs: dict[str, dict[str, Any]], demo_report: Path | None) -> None:
    """Rewrite every JSON-made block, and the demo block from ``demo_report`` when given."""
    updates: dict[Path, list[tuple[str, str]]] = {}
    for (path, name), render in JSON_BLOCKS.items():
        updates.setdefault(path, []).append((name, render(runs)))
    if demo_report is not None:
        updates.setdefault(README, []).append(("demo", demo_block(demo_report.read_text())))
    for path, blocks in updates.items():
        text = path.read_text()
        for name, content in blocks:
            text = replace_block(text, name, content, path)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}: {', '.join(name for name, _ in blocks)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when a block is stale")
    mode.add_argument("--write", action="store_true", help="rewrite the blocks")
    parser.add_argument("--demo-report", type=Path, help="a demo's report.md (with --write)")
    args = parser.parse_args(argv)
    runs = load_quality()
    if args.write:
        write_blocks(runs, args.demo_report)
        return 0
    stale = stale_blocks(runs)
    for line in stale:
        print(f"stale: {line} (python benchmarks/figures.py --write)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
