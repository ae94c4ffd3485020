"""benchmarks/picture_swap.py: the swap itself, and the script end to end on a tiny tone set."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from helpers_train import write_tiny_model_pair, write_tone_benchmark

from avpc_plugin.evaluate.benchmark import read_manifest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "picture_swap.py"


def load_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script as a module (it imports benchmarks/quality.py from its own folder)."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("picture_swap", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_corpus_of_set_videos(bench: Path, corpus: Path) -> None:
    """A corpus index whose clip of each instrument is the set's own video of it."""
    corpus.mkdir()
    seen: dict[str, Path] = {}
    for mixture in read_manifest(bench):
        for source in mixture.sources:
            seen.setdefault(source.instrument, source.video)
    lines = [json.dumps({"instrument": name, "video": str(video)}) for name, video in seen.items()]
    (corpus / "index.jsonl").write_text("\n".join(lines) + "\n")


def test_swap_keeps_the_sounds_and_draws_videos_of_the_same_instrument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    swap = load_script(monkeypatch)
    bench = tmp_path / "bench"
    write_tone_benchmark(bench, count=3)
    mixtures = read_manifest(bench)
    instruments = {s.instrument for m in mixtures for s in m.sources}
    videos = {name: [tmp_path / f"{name}-{k}.mp4" for k in range(5)] for name in instruments}

    swapped = swap.with_pictures_from(mixtures, videos, seed=3)
    assert swapped == swap.with_pictures_from(mixtures, videos, seed=3)
    for before, after in zip(mixtures, swapped, strict=True):
        assert (after.id, after.mix) == (before.id, before.mix)
        for old, new in zip(before.sources, after.sources, strict=True):
            assert (new.instrument, new.audio, new.box) == (old.instrument, old.audio, old.box)
            assert new.video in videos[old.instrument]
    other_seed = swap.with_pictures_from(mixtures, videos, seed=4)
    assert [s.video for m in swapped for s in m.sources] != [
        s.video for m in other_seed for s in m.sources
    ]

    missing = sorted(instruments)[0]
    with pytest.raises(ValueError, match=f"--corpus: no clips of {missing}"):
        swap.with_pictures_from(mixtures, {k: v for k, v in videos.items() if k != missing})


def test_script_scores_both_models_and_pictures_that_are_the_same_gain_nothing(
    tmp_path: Path,
) -> None:
    bench, corpus = tmp_path / "bench", tmp_path / "corpus"
    write_tone_benchmark(bench, count=1)
    write_corpus_of_set_videos(bench, corpus)
    avpc_file, sop_file = write_tiny_model_pair(tmp_path)
    out = tmp_path / "report"
    command = [sys.executable, str(SCRIPT), "--set", str(bench), "--corpus", str(corpus),
               "--model", str(avpc_file), "--baseline", str(sop_file), "--device", "cpu",
               "--workers", "0", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr

    report = json.loads((out / "picture_swap.json").read_text())
    assert list(report["scores"]) == [avpc_file.stem, sop_file.stem]
    for by_pictures in report["scores"].values():
        # The "training" clips are the set's own videos: the same frames, the same scores.
        assert set(by_pictures["own"]) == set(by_pictures["training"]) == {"2-source"}
        own, training = by_pictures["own"]["2-source"], by_pictures["training"]["2-source"]
        assert training == pytest.approx(own, abs=1e-6)
    table = (out / "picture_swap.md").read_text()
    assert f"| {avpc_file.stem} | gain with training pictures | +0.00 | +0.00 |" in table
