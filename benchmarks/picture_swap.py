"""How much of a model's loss on unseen clips comes from the pictures: a benchmark set scored with
its own videos and again with every source's video swapped for a training clip's video of the
same instrument (the sounds stay the set's).

On the val benchmark set (a soundfont and pictures never seen in training) the second score
shows what the model would reach if it only had to deal with the new sounds; the difference is
what the unseen pictures cost. Scored as ``avpc evaluate`` scores (the same
:func:`evaluate_benchmark` through the Separator), per mixture size, for a model and its baseline.

    python benchmarks/picture_swap.py --set data/bench --corpus data/corpus/train \\
        --model avpc-synth --baseline sop-synth --out docs/picture-swap

writes ``picture_swap.json`` and ``picture_swap.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from quality import add_comparison_arguments  # benchmarks/quality.py, beside this script

from avpc_plugin.atomic import write_text_atomically
from avpc_plugin.data.corpus import read_index
from avpc_plugin.evaluate.benchmark import (
    MODEL_ROW,
    BenchmarkMixture,
    evaluate_benchmark,
    mixtures_by_size,
    read_manifest,
    separator_function,
)
from avpc_plugin.separate import Separator
from avpc_plugin.stem_settings import reference_preset

PICTURES = ("own", "training")
"""The two ways a set is scored: its own videos, and training clips' videos."""
METRICS = ("sdr", "nsdr")


def videos_by_instrument(corpus: Path) -> dict[str, list[Path]]:
    """``{instrument: video files}`` of a corpus folder (``index.jsonl``), in index order."""
    videos: dict[str, list[Path]] = {}
    for record in read_index(corpus):
        videos.setdefault(str(record["instrument"]), []).append(corpus / record["video"])
    return videos


def with_pictures_from(
    mixtures: list[BenchmarkMixture], videos: dict[str, list[Path]], seed: int = 0
) -> list[BenchmarkMixture]:
    """``mixtures`` with each source's video replaced by one of ``videos[instrument]``, drawn
    with ``seed`` (the same seed gives the same draw); audio, boxes and ids are kept.

    Raises:
        ValueError: an instrument of the set has no video in ``videos`` (named).
    """
    missing = sorted({s.instrument for m in mixtures for s in m.sources} - set(videos))
    if missing:
        raise ValueError(f"--corpus: no clips of {', '.join(missing)} (the set has them)")
    rng = np.random.default_rng(seed)
    swapped = []
    for mixture in mixtures:
        sources = []
        for source in mixture.sources:
            choices = videos[source.instrument]
            video = choices[int(rng.integers(len(choices)))]
            sources.append(dataclasses.replace(source, video=video))
        swapped.append(dataclasses.replace(mixture, sources=sources))
    return swapped


def score(mixtures: list[BenchmarkMixture], separator: Separator, workers: int) -> dict[str, Any]:
    """``{size group: {metric: mean dB}}`` of ``separator`` on ``mixtures``."""
    scores = {}
    for group, members in mixtures_by_size(mixtures).items():
        result = evaluate_benchmark(
            members, separator_function(separator), reference_rows=False, workers=workers
        )
        overall = result.summary[MODEL_ROW]["overall"]
        scores[group] = {metric: overall[metric]["mean"] for metric in METRICS}
    return scores


def markdown_report(report: dict[str, Any]) -> str:
    """The table of ``report`` (as written to picture_swap.json) in Markdown."""
    groups = list(next(iter(report["scores"].values()))["own"])
    header = " | ".join(f"{group} {metric.upper()}" for group in groups for metric in METRICS)
    lines = [
        f"Set `{report['set']}`, training pictures from `{report['corpus']}` (seed "
        f"{report['seed']}); BSS Eval v3, binary masks at 0.5; dB, means.",
        "",
        f"| model | pictures | {header} |",
        "|---|---|" + "---:|" * (len(groups) * len(METRICS)),
    ]
    for name, by_pictures in report["scores"].items():
        for pictures in PICTURES:
            cells = [f"{by_pictures[pictures][g][m]:.2f}" for g in groups for m in METRICS]
            lines.append(f"| {name} | {pictures} | " + " | ".join(cells) + " |")
        cost = [
            f"{by_pictures['training'][g][m] - by_pictures['own'][g][m]:+.2f}"
            for g in groups
            for m in METRICS
        ]
        lines.append(f"| {name} | gain with training pictures | " + " | ".join(cost) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_comparison_arguments(parser)
    parser.add_argument(
        "--corpus", type=Path, required=True, help="training corpus (index.jsonl) for pictures"
    )
    parser.add_argument("--seed", type=int, default=0, help="draw of the training clips")
    args = parser.parse_args()

    started = time.perf_counter()
    mixtures = read_manifest(args.set_dir)
    sets = {
        "own": mixtures,
        "training": with_pictures_from(mixtures, videos_by_instrument(args.corpus), args.seed),
    }
    report: dict[str, Any] = {
        "set": str(args.set_dir),
        "corpus": str(args.corpus),
        "seed": args.seed,
        "scores": {},
    }
    for model in (args.model, args.baseline):
        separator = Separator.from_pretrained(
            model, device=args.device, default_preset=reference_preset(0.5)
        )
        name = Path(model).stem
        report["scores"][name] = {}
        for pictures in PICTURES:
            print(f"scoring {name} with {pictures} pictures", flush=True)
            report["scores"][name][pictures] = score(sets[pictures], separator, args.workers)
    report["seconds"] = round(time.perf_counter() - started, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(args.out / "picture_swap.json", json.dumps(report, indent=1) + "\n")
    markdown = markdown_report(report)
    write_text_atomically(args.out / "picture_swap.md", markdown)
    print(markdown)
    print(f"wrote picture_swap.json and picture_swap.md to {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
