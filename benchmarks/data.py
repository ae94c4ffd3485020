"""Speed of the data pipeline: corpus generation and the cached training loader.

    python benchmarks/data.py synth --clips 44 --workers 2
    python benchmarks/data.py loader --clips 22 --workers 2 --batch-size 16

``synth`` renders ``--clips`` six-second clips with video into a temporary folder and reports
clips per second and the time 1,000 clips would take (the target: 10 minutes on 2 cores).

``loader`` builds a pre-decoded cache (of ``--corpus``, or of a small train corpus it makes) and
times a torch DataLoader over :class:`~avpc_plugin.data.cache.CachedMixSeparateDataset`
(2-source mixtures, 224 px frames): mixtures per second after the first batch (the target:
200 per second with 2 workers, batch 16).
"""

from __future__ import annotations

import argparse
import os
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


def bench_loader(
    corpus: str | None,
    clips: int,
    workers: int,
    batch_size: int,
    batches: int,
    n_sources: int,
    train: bool,
    normalize: bool,
) -> None:
    from torch.utils.data import DataLoader

    from avpc_plugin.data.cache import CachedMixSeparateDataset, build_cache
    from avpc_plugin.data.clips import clips_from_corpus
    from avpc_plugin.data.corpus import synthesize_corpus

    with tempfile.TemporaryDirectory() as folder:
        if corpus is None:
            corpus = f"{folder}/corpus"
            synthesize_corpus(corpus, "train", clips, seed=0, workers=2)
        start = time.perf_counter()
        cache = build_cache(clips_from_corpus(corpus), f"{folder}/cache", progress=False)
        cache_seconds = time.perf_counter() - start
        dataset = CachedMixSeparateDataset(
            cache,
            n_sources,
            train=train,
            length=batch_size * (batches + 1),
            normalize=normalize,
        )
        loader = DataLoader(
            dataset, batch_size=batch_size, num_workers=workers, persistent_workers=workers > 0
        )
        iterator = iter(loader)
        next(iterator)  # worker start-up and first page-ins are not steady-state speed
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        items = sum(len(batch["mix"]) for batch in iterator)
        elapsed = time.perf_counter() - start
        del iterator, loader  # joins the workers, so their CPU time is counted
        cpu = _cpu_seconds() - cpu_start
    mode = ("train" if train else "val") + (", float frames" if normalize else ", uint8 frames")
    print(
        f"cache: {len(cache)} clips in {cache_seconds:.1f} s "
        f"({cache_seconds / len(cache) * 1000:.0f} ms per clip)"
    )
    print(
        f"loader ({mode}, {n_sources} sources, 224 px, {workers} workers, batch {batch_size}): "
        f"{items} mixtures in {elapsed:.2f} s = {items / elapsed:.0f} mixtures/s (target 200)"
    )
    # On a shared machine the wall-clock rate depends on the other load; the CPU time per
    # mixture (workers + main process) does not: 2 free cores give about 2 / that.
    if workers > 0 and cpu > 0:
        print(
            f"CPU {cpu / items * 1000:.1f} ms per mixture: about {workers * items / cpu:.0f} "
            f"mixtures/s on {workers} otherwise idle cores"
        )


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system), seconds."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    synth = sub.add_parser("synth", help="corpus generation speed")
    synth.add_argument("--clips", type=int, default=44)
    synth.add_argument("--workers", type=int, default=2)
    synth.add_argument("--split", choices=["train", "val"], default="train")
    synth.add_argument("--seed", type=int, default=0)
    loader = sub.add_parser("loader", help="cached DataLoader throughput")
    loader.add_argument("--corpus", default=None, help="corpus folder (default: make one)")
    loader.add_argument("--clips", type=int, default=22, help="clips to make without --corpus")
    loader.add_argument("--workers", type=int, default=2)
    loader.add_argument("--batch-size", type=int, default=16)
    loader.add_argument("--batches", type=int, default=40)
    loader.add_argument("--sources", type=int, default=2)
    loader.add_argument("--val", action="store_true", help="validation items (resize, no crop)")
    loader.add_argument(
        "--uint8", action="store_true", help="uint8 frames (normalised later on the GPU)"
    )
    args = parser.parse_args()
    if args.what == "synth":
        bench_synth(args.clips, args.workers, args.split, args.seed)
    else:
        bench_loader(
            args.corpus,
            args.clips,
            args.workers,
            args.batch_size,
            args.batches,
            args.sources,
            not args.val,
            not args.uint8,
        )


if __name__ == "__main__":
    main()
