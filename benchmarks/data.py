"""Speed of the data pipeline: corpus generation and (later) the cached training loader.

    python benchmarks/data.py synth --clips 44 --workers 2

``synth`` renders ``--clips`` six-second clips with video into a temporary folder and reports
clips per second and the time 1,000 clips would take (the target: 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import cast


def bench_synth(clips: int, workers: int, split: str, seed: int) -> None:
    from avpc_plugin.data.corpus import SynthConfig, synthesize_corpus
    from avpc_plugin.data.render import Split

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        synthesize_corpus(folder, cast(Split, split), clips, seed, SynthConfig(), workers=workers)
        elapsed = time.perf_counter() - start
    rate = clips / elapsed
    print(
        f"synth {split}: {clips} clips of 6 s (256 px, 8 fps) in {elapsed:.1f} s on {workers} "
        f"workers = {rate:.2f} clips/s; 1,000 clips: {1000 / rate / 60:.1f} min (target 10)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    synth = sub.add_parser("synth", help="corpus generation speed")
    synth.add_argument("--clips", type=int, default=44)
    synth.add_argument("--workers", type=int, default=2)
    synth.add_argument("--split", choices=["train", "val"], default="train")
    synth.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.what == "synth":
        bench_synth(args.clips, args.workers, args.split, args.seed)


if __name__ == "__main__":
    main()
