"""Evaluation results as a plain-text table, Markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from avpc_plugin.atomic import write_bytes_atomically
from avpc_plugin.evaluate.benchmark import EvaluationResult
from avpc_plugin.metrics import METRIC_NAMES

SYSTEM_LABELS = {
    "model": "model",
    "mixture": "mixture (no separation)",
    "ideal_binary_mask": "ideal binary mask",
    "ideal_ratio_mask": "ideal ratio mask",
}


def table_rows(result: EvaluationResult) -> list[list[str]]:
    """Header and one row per (system, group): mean / median of SDR, SIR, SAR, NSDR in dB."""
    header = ["system", "group", "n", *(f"{m.upper()} mean/median" for m in METRIC_NAMES)]
    rows = [header]
    for system, groups in result.summary.items():
        for group, metrics in groups.items():
            cells = [f"{metrics[m]['mean']:.2f} / {metrics[m]['median']:.2f}" for m in METRIC_NAMES]
            count = str(int(metrics["sdr"]["count"]))
            rows.append([SYSTEM_LABELS.get(system, system), group, count, *cells])
    return rows


def format_table(result: EvaluationResult) -> str:
    """A fixed-width text table for the terminal."""
    rows = table_rows(result)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def format_markdown(result: EvaluationResult) -> str:
    """A Markdown report: what was evaluated, then the table (dB, mean / median)."""
    rows = table_rows(result)
    info = "\n".join(f"- {key}: {value}" for key, value in result.info.items())
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("---" for _ in rows[0]) + "|")
    return f"# Separation quality (BSS Eval v3, dB)\n\n{info}\n\n" + "\n".join(lines) + "\n"


def write_reports(result: EvaluationResult, json_path: Path, markdown_path: Path) -> None:
    """Write the JSON (summary and per-source rows) and the Markdown report atomically."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(result.to_json(), indent=2, allow_nan=True)
    write_bytes_atomically(json_path, payload.encode("utf-8"))
    write_bytes_atomically(markdown_path, format_markdown(result).encode("utf-8"))
