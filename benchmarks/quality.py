"""Separation quality of a model next to its baseline and the ceiling: the tables and chart of
docs/benchmarks.md.

On the 2-source and the 3-source mixtures of a benchmark set (``avpc data bench``), every system is
scored the way ``avpc evaluate`` scores it (the same :func:`evaluate_benchmark`, BSS Eval v3 at
11025 Hz): the model, the baseline, the mixture itself and the ideal binary / ratio masks, per
instrument and overall. Also: the sound-net parameters of both models, and the model's SDR
against PCNet's test-time cycles on the 2-source mixtures.

    python benchmarks/quality.py --set data/bench --model avpc-synth --baseline sop-synth \\
        --out docs/quality

writes ``quality.json`` (every number), ``quality.md`` (the tables) and ``quality.png`` (per-
instrument SDR and SDR against cycles) into ``--out``.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avpc_plugin.atomic import write_bytes_atomically, write_text_atomically
from avpc_plugin.evaluate.benchmark import (
    MODEL_ROW,
    SYSTEMS_REFERENCE,
    BenchmarkMixture,
    default_score_workers,
    evaluate_benchmark,
    mixtures_by_size,
    read_manifest,
    separator_function,
    size_group,
)
from avpc_plugin.metrics import METRIC_NAMES
from avpc_plugin.separate import Separator
from avpc_plugin.stem_settings import reference_preset

Summary = dict[str, dict[str, dict[str, float]]]
"""``{"overall" | instrument: {metric: {"mean", "median", "count"}}}`` of one system."""


def sound_net_parameters(separator: Separator) -> int:
    """Parameters of the model's sound net (PCNet for AVPC, the U-Net for Sound-of-Pixels)."""
    return sum(p.numel() for p in separator.model.sound_net.parameters())


def score_group(
    mixtures: list[BenchmarkMixture],
    model: Separator,
    baseline: Separator,
    names: Sequence[str],
    workers: int = 0,
    normalise: bool = False,
) -> dict[str, Summary]:
    """Summaries of the model, the baseline and the reference systems on ``mixtures``
    (``workers``: BSS Eval processes, as for :func:`evaluate_benchmark`; ``normalise``: as
    :func:`separator_function`)."""
    with_references = evaluate_benchmark(
        mixtures, separator_function(model, normalise=normalise), workers=workers
    )
    baseline_only = evaluate_benchmark(
        mixtures,
        separator_function(baseline, normalise=normalise),
        reference_rows=False,
        workers=workers,
    )
    systems = {names[0]: with_references.summary[MODEL_ROW]}
    systems[names[1]] = baseline_only.summary[MODEL_ROW]
    systems.update({name: with_references.summary[name] for name in SYSTEMS_REFERENCE})
    return systems


def cycle_sweep(
    mixtures: list[BenchmarkMixture],
    model: Separator,
    cycles: Sequence[int],
    workers: int = 0,
    normalise: bool = False,
) -> dict[int, dict[str, float]]:
    """Overall mean SDR / NSDR of the model at each test-time cycle count."""
    sweep = {}
    for count in cycles:
        result = evaluate_benchmark(
            mixtures,
            separator_function(model, cycles=count, normalise=normalise),
            reference_rows=False,
            workers=workers,
        )
        overall = result.summary[MODEL_ROW]["overall"]
        sweep[count] = {"sdr": overall["sdr"]["mean"], "nsdr": overall["nsdr"]["mean"]}
        print(f"  cycles {count}: SDR {sweep[count]['sdr']:.2f} dB", flush=True)
    return sweep


def markdown_report(report: dict[str, Any]) -> str:
    """The tables of ``report`` (as written to quality.json) in Markdown."""
    names = report["systems"]
    lines = [
        f"Set `{report['set']}`; model `{report['model']}`, baseline `{report['baseline']}`; "
        f"BSS Eval v3 at 11025 Hz, binary masks at {report['threshold']}"
        + (", normalised across each mixture's sources" if report.get("normalise") else "")
        + "; dB, mean (median).",
        "",
        "| model | sound-net parameters |",
        "|---|---:|",
        *(f"| {name} | {count:,} |" for name, count in report["sound_net_parameters"].items()),
    ]
    for group, systems in report["groups"].items():
        count = report["mixtures"][group]
        lines += ["", f"**{group} mixtures** ({count}), overall:", ""]
        lines += ["| system | " + " | ".join(m.upper() for m in METRIC_NAMES) + " |"]
        lines += ["|---|" + "---:|" * len(METRIC_NAMES)]
        for name in names:
            overall = systems[name]["overall"]
            cells = [f"{overall[m]['mean']:.2f} ({overall[m]['median']:.2f})" for m in METRIC_NAMES]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", f"{group}, SDR per instrument (mean):", ""]
        lines += per_instrument_table(systems, names, "sdr")
        others = [m for m in METRIC_NAMES if m != "sdr"]
        summary = ", ".join(m.upper() for m in others) + " per instrument"
        lines += ["", f"<details><summary>{group}, {summary} (mean)</summary>"]
        for metric in others:
            lines += ["", f"{group}, {metric.upper()} per instrument (mean):", ""]
            lines += per_instrument_table(systems, names, metric)
        lines += ["", "</details>"]
    if report["cycles"]:
        lines += ["", f"{report['model']}, test-time cycles ({report['cycles_group']}):", ""]
        lines += ["| cycles | SDR | NSDR |", "|---:|---:|---:|"]
        for count, scores in report["cycles"].items():
            lines.append(f"| {count} | {scores['sdr']:.2f} | {scores['nsdr']:.2f} |")
    return "\n".join(lines) + "\n"


def per_instrument_table(systems: dict[str, Any], names: list[str], metric: str) -> list[str]:
    """Markdown rows: one ``metric`` mean per instrument (rows) and system (columns)."""
    instruments = sorted(k for k in systems[names[0]] if k != "overall")
    lines = ["| instrument | n | " + " | ".join(names) + " |"]
    lines += ["|---|---:|" + "---:|" * len(names)]
    for instrument in instruments:
        n = int(systems[names[0]][instrument][metric]["count"])
        cells = [f"{systems[name][instrument][metric]['mean']:.2f}" for name in names]
        lines.append(f"| {instrument} | {n} | " + " | ".join(cells) + " |")
    return lines


def chart(report: dict[str, Any]) -> bytes:
    """PNG: per-instrument SDR of every system (each group), and SDR against test-time cycles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report["systems"]
    groups = list(report["groups"])
    panels = len(groups) + (1 if report["cycles"] else 0)
    figure, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.5), squeeze=False)
    for axis, group in zip(axes[0], groups, strict=False):
        systems = report["groups"][group]
        rows = ["overall", *sorted(k for k in systems[names[0]] if k != "overall")]
        width = 0.8 / len(names)
        for k, name in enumerate(names):
            values = [systems[name][row]["sdr"]["mean"] for row in rows]
            axis.bar(np.arange(len(rows)) + (k - (len(names) - 1) / 2) * width, values, width,
                     label=name)  # fmt: skip
        axis.set_xticks(np.arange(len(rows)), rows, rotation=45, ha="right")
        axis.axhline(0.0, color="black", linewidth=0.5)
        axis.set_ylabel("SDR (dB)")
        axis.set_title(f"{group} mixtures ({report['mixtures'][group]})")
        axis.legend(fontsize=7)
    if report["cycles"]:
        axis = axes[0][-1]
        counts = [int(c) for c in report["cycles"]]
        axis.plot(counts, [s["sdr"] for s in report["cycles"].values()], "o-", label=names[0])
        baseline = report["groups"][report["cycles_group"]][names[1]]["overall"]["sdr"]["mean"]
        axis.axhline(baseline, color="tab:orange", linestyle="--", label=names[1])
        axis.set_xlabel("test-time cycles")
        axis.set_ylabel("SDR (dB)")
        axis.set_title(f"SDR against PCNet cycles ({report['cycles_group']})")
        axis.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def parse_cycles(text: str) -> list[int]:
    """``"1-8"`` or ``"1,2,4"`` -> cycle counts; ``""`` -> none."""
    if not text:
        return []
    if "-" in text:
        first, last = (int(part) for part in text.split("-"))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def add_comparison_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark that scores a model next to its baseline on a benchmark set:
    ``--set``, ``--model``, ``--baseline``, ``--device``, ``--workers`` and ``--out``."""
    parser.add_argument("--set", dest="set_dir", type=Path, required=True)
    parser.add_argument("--model", required=True, help="AVPC model: registered name or .pt file")
    parser.add_argument("--baseline", required=True, help="baseline model: name or .pt file")
    parser.add_argument("--device", default=None)
    parser.add_argument(
        "--workers", type=int, default=default_score_workers(), help="BSS Eval processes"
    )
    parser.add_argument("--out", type=Path, required=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_comparison_arguments(parser)
    parser.add_argument("--cycles", default="1-8", help="test-time cycles to sweep ('' = none)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument(
        "--normalise",
        action="store_true",
        help="share each bin among a mixture's sources (the estimates sum to the mix)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    options = {"device": args.device, "default_preset": reference_preset(args.threshold)}
    model = Separator.from_pretrained(args.model, **options)
    baseline = Separator.from_pretrained(args.baseline, **options)
    names = [Path(args.model).stem, Path(args.baseline).stem]
    mixtures = read_manifest(args.set_dir)
    groups = mixtures_by_size(mixtures)
    report: dict[str, Any] = {
        "set": str(args.set_dir),
        "model": args.model,
        "baseline": args.baseline,
        "threshold": args.threshold,
        "normalise": args.normalise,
        "systems": [*names, *SYSTEMS_REFERENCE],
        "sound_net_parameters": {
            names[0]: sound_net_parameters(model),
            names[1]: sound_net_parameters(baseline),
        },
        "mixtures": {group: len(members) for group, members in groups.items()},
        "groups": {},
        "cycles_group": size_group(2) if size_group(2) in groups else next(iter(groups)),
        "cycles": {},
    }
    for group, members in groups.items():
        print(f"scoring {len(members)} {group} mixtures", flush=True)
        report["groups"][group] = score_group(
            members, model, baseline, names, args.workers, args.normalise
        )
    cycles = parse_cycles(args.cycles)
    if cycles:
        print(f"sweeping test-time cycles {cycles} on {report['cycles_group']}", flush=True)
        report["cycles"] = cycle_sweep(
            groups[report["cycles_group"]], model, cycles, args.workers, args.normalise
        )
    report["seconds"] = round(time.perf_counter() - started, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=1) + "\n"
    write_text_atomically(args.out / "quality.json", text)
    written = json.loads(text)  # as quality.json reads back (cycle counts become strings)
    markdown = markdown_report(written)
    write_text_atomically(args.out / "quality.md", markdown)
    write_bytes_atomically(args.out / "quality.png", chart(written))
    print(markdown)
    print(f"wrote quality.json, quality.md and quality.png to {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
