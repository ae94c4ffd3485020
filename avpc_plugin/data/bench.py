"""Benchmark sets: fixed mixtures of val-split solos in the ``manifest.jsonl`` format.

A benchmark folder holds::

    manifest.jsonl      one mixture per line: {"id", "mix", "sources": [{"instrument", "audio",
                        "video", "box"}, ...]} with paths relative to the folder
    mixes/<id>.wav      the mixture: the mean of its sources (32-bit float, model rate)
    src/<id>_<k>.wav    source k: the peak-normalised solo times its gain (32-bit float)
    vid/<id>_<k>.mp4    source k's video (a copy of the solo clip's mp4)

Mixtures follow the training recipe (:mod:`avpc_plugin.audio.mixing`): every solo is peak
normalised, scaled by a gain from ``[0.5, 1.5)`` and the mix is the mean, so ``mix == mean of
sources`` holds exactly for the files as written. Instruments within a mixture are distinct.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avpc_plugin.audio.io import read_audio, write_audio
from avpc_plugin.audio.mixing import make_mixture, peak_normalize, random_gains
from avpc_plugin.data.corpus import read_index

MANIFEST_NAME = "manifest.jsonl"


def build_benchmark(
    corpus: str | Path,
    out: str | Path,
    mixtures: dict[int, int] | None = None,
    seed: int = 1234,
) -> list[dict[str, Any]]:
    """Write a benchmark set built from the solo clips of ``corpus`` into ``out``.

    Args:
        corpus: a corpus folder (``index.jsonl``), normally the val split.
        out: benchmark folder (created; existing files of the same names are replaced).
        mixtures: how many mixtures of each size, ``{sources: count}``; default ``{2: 20, 3: 10}``.
        seed: fixes which clips are mixed and their gains.

    Returns:
        The manifest entries, as written.

    Raises:
        ValueError: the corpus has fewer distinct instruments than a mixture size needs.
    """
    mixtures = mixtures if mixtures is not None else {2: 20, 3: 10}
    corpus, out = Path(corpus), Path(out)
    records = read_index(corpus)
    by_instrument: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_instrument.setdefault(record["instrument"], []).append(record)
    names = sorted(by_instrument)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    for folder in ("mixes", "src", "vid"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    manifest: list[dict[str, Any]] = []
    for n_sources, count in sorted(mixtures.items()):
        if n_sources > len(names):
            raise ValueError(
                f"mixtures: {n_sources}-source mixtures need {n_sources} instruments, "
                f"{corpus} has {len(names)} ({', '.join(names)})"
            )
        for _ in range(count):
            chosen = [names[i] for i in rng.choice(len(names), size=n_sources, replace=False)]
            clips = [by_instrument[n][int(rng.integers(len(by_instrument[n])))] for n in chosen]
            manifest.append(_write_mixture(corpus, out, len(manifest), clips, generator))
    with open(out / MANIFEST_NAME, "w", encoding="utf-8") as f:
        for entry in manifest:
            f.write(json.dumps(entry) + "\n")
    return manifest


def _write_mixture(
    corpus: Path, out: Path, number: int, clips: list[dict[str, Any]], generator: torch.Generator
) -> dict[str, Any]:
    waves, rate = [], None
    for clip in clips:
        audio, clip_rate = read_audio(corpus / clip["audio"])
        if rate is not None and clip_rate != rate:
            raise ValueError(f"corpus: {clip['audio']} is at {clip_rate} Hz, others at {rate} Hz")
        rate = clip_rate
        waves.append(torch.from_numpy(audio.mean(axis=0)))
    length = min(w.shape[-1] for w in waves)
    solos = peak_normalize(torch.stack([w[:length] for w in waves]))[None]  # (1, N, L)
    mixture = make_mixture(solos, random_gains((1, len(clips)), generator=generator))
    mix_id = f"{number:04d}"
    mix_rel = f"mixes/{mix_id}.wav"
    write_audio(out / mix_rel, mixture.mix[0].numpy(), int(rate or 0), "32f", overwrite=True)
    sources = []
    for k, clip in enumerate(clips):
        audio_rel, video_rel = f"src/{mix_id}_{k}.wav", f"vid/{mix_id}_{k}.mp4"
        write_audio(out / audio_rel, mixture.sources[0, k].numpy(), int(rate or 0), "32f", True)
        shutil.copyfile(corpus / clip["video"], out / video_rel)
        sources.append(
            {"instrument": clip["instrument"], "audio": audio_rel, "video": video_rel, "box": None}
        )
    return {"id": mix_id, "mix": mix_rel, "sources": sources}
