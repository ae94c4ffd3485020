"""Scoring a model on a benchmark set (``manifest.jsonl``, see ``avpc data bench``).

Every mixture is separated by the :class:`~avpc_plugin.separate.Separator`, the one inference
path, with one stem per source queried by that source's video (and box). Scores are BSS Eval v3
(:func:`~avpc_plugin.metrics.separation_scores`) on the model-rate (11025 Hz) clips, as in the
paper's protocol. Next to the model, three reference rows are scored on the same clips:

* ``mixture``: the mixture itself as every source's estimate (NSDR 0 by definition);
* ``ideal_binary_mask``: every bin of the model's STFT to the loudest source;
* ``ideal_ratio_mask``: each source's share of the summed magnitudes (the usual ceiling).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avpc_plugin.audio.io import read_audio, resample
from avpc_plugin.audio.masks import apply_mask, ideal_binary_mask, ideal_ratio_mask
from avpc_plugin.audio.stft import MODEL_RATE, istft, stft
from avpc_plugin.data.bench import MANIFEST_NAME
from avpc_plugin.metrics import METRIC_NAMES, separation_scores, summarize
from avpc_plugin.presets import PresetError, load_preset
from avpc_plugin.separate import StemQuery
from avpc_plugin.stem_settings import Preset

SYSTEMS_REFERENCE = ("mixture", "ideal_binary_mask", "ideal_ratio_mask")
MODEL_ROW = "model"


class BenchmarkError(ValueError):
    """A benchmark folder or manifest line that cannot be used (the message names it)."""


@dataclass(frozen=True)
class BenchmarkSource:
    instrument: str
    audio: Path
    video: Path
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class BenchmarkMixture:
    """One manifest line, paths resolved against the benchmark folder."""

    id: str
    mix: Path
    sources: list[BenchmarkSource]


@dataclass
class EvaluationResult:
    """Per-source scores of every system and their summaries.

    Attributes:
        rows: one dict per (mixture, source, system): ``id``, ``instrument``, ``system``,
            ``sources`` (the mixture's source count) and the scores ``sdr``, ``sir``, ``sar``,
            ``nsdr`` (dB).
        summary: ``{system: {group: {metric: {"mean", "median", "count"}}}}``, the groups being
            ``"overall"``, one per mixture size (``"2-source"``, ...) when the set mixes sizes,
            and one per instrument.
        info: what was evaluated (set, model, options).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, dict[str, dict[str, dict[str, float]]]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"info": self.info, "summary": self.summary, "rows": self.rows}


def read_manifest(folder: str | Path) -> list[BenchmarkMixture]:
    """The mixtures of a benchmark folder.

    Raises:
        BenchmarkError: no manifest, a line that is not a mixture, or a missing file (the
            message names the file and line).
    """
    root = Path(folder)
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        raise BenchmarkError(f"--set: {root} has no {MANIFEST_NAME} (not a benchmark folder)")
    mixtures = []
    with open(manifest, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{manifest}:{number}"
            try:
                entry = json.loads(line)
                sources = [
                    BenchmarkSource(
                        str(s["instrument"]), root / s["audio"], root / s["video"],
                        tuple(s["box"]) if s.get("box") is not None else None,
                    )
                    for s in entry["sources"]
                ]  # fmt: skip
                mixture = BenchmarkMixture(str(entry["id"]), root / entry["mix"], sources)
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise BenchmarkError(f"{where}: not a benchmark mixture ({err!r})") from None
            for path in (mixture.mix, *(p for s in sources for p in (s.audio, s.video))):
                if not path.is_file():
                    raise BenchmarkError(f"{where}: missing file {path}")
            if len(sources) < 1:
                raise BenchmarkError(f"{where}: a mixture needs at least one source")
            mixtures.append(mixture)
    if not mixtures:
        raise BenchmarkError(f"{manifest}: no mixtures")
    return mixtures


def read_model_rate(path: Path) -> np.ndarray:
    """A file's channel mean at the model rate, float64 ``(L,)``."""
    audio, rate = read_audio(path)
    mono = audio.mean(axis=0)
    if rate != MODEL_RATE:
        mono = resample(mono[None], rate, MODEL_RATE)[0]
    return np.asarray(mono, dtype=np.float64)


def oracle_estimates(references: np.ndarray, mixture: np.ndarray) -> dict[str, np.ndarray]:
    """Ideal binary / ratio mask estimates at the model's STFT.

    Args:
        references: ``(N, L)`` true sources at the model rate.
        mixture: ``(L,)`` their mixture.

    Returns:
        ``{"ideal_binary_mask", "ideal_ratio_mask"}``: ``(N, L)`` estimates.
    """
    mix_spec = stft(torch.from_numpy(mixture))
    source_mags = stft(torch.from_numpy(references)).abs()[None]  # (1, N, F, T)
    estimates = {}
    for name, oracle in (
        ("ideal_binary_mask", ideal_binary_mask),
        ("ideal_ratio_mask", ideal_ratio_mask),
    ):
        masked = apply_mask(mix_spec[None, None], oracle(source_mags))
        estimates[name] = istft(masked, mixture.shape[-1])[0].numpy()
    return estimates


def default_score_workers() -> int:
    """Scoring processes by default: one fewer than the CPU cores (the separation keeps one
    busy), at most 8; 0 (score in this process) on a 1-core machine."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def score_systems(
    reference: np.ndarray, estimates: dict[str, np.ndarray], mix: np.ndarray
) -> dict[str, dict[str, np.ndarray]]:
    """BSS Eval scores of every system's estimates of one mixture.

    Args:
        reference: ``(N, L)`` true sources at the model rate.
        estimates: ``{system: (N, L) estimates}``.
        mix: ``(L,)`` the mixture (its own SDR, for NSDR, is computed once for all systems).

    Returns:
        ``{system: separation_scores(...)}`` (see :func:`~avpc_plugin.metrics.separation_scores`).
    """
    scores: dict[str, dict[str, np.ndarray]] = {}
    sdr_mix = None
    for system, estimate in estimates.items():
        scores[system] = separation_scores(reference, estimate, mix, sdr_mix)
        sdr_mix = scores[system]["sdr_mix"]
    return scores


def evaluate_benchmark(
    mixtures: list[BenchmarkMixture],
    separate: Callable[[BenchmarkMixture, np.ndarray], np.ndarray],
    progress: Callable[[int, int], None] | None = None,
    reference_rows: bool = True,
    workers: int = 0,
) -> EvaluationResult:
    """Score ``separate`` and the reference rows on every mixture.

    Args:
        mixtures: from :func:`read_manifest`.
        separate: ``(mixture, mix (L,) at the model rate) -> (N, L)`` estimates, sources in
            manifest order (e.g. :func:`separator_function`).
        progress: called with ``(done, total)`` after each mixture is scored.
        reference_rows: also score the reference systems (``False``: the model row only, e.g. to
            sweep a model option on a set whose references are already scored).
        workers: processes that run BSS Eval (the slow part) while this one keeps separating;
            0 scores here. The rows are the same either way, in manifest order.

    Returns:
        :class:`EvaluationResult` with rows for ``"model"`` and the reference systems.
    """
    if workers < 0:
        raise ValueError(f"workers: expected >= 0, got {workers}")
    result = EvaluationResult()
    pending: deque[tuple[BenchmarkMixture, Future[dict[str, dict[str, np.ndarray]]]]] = deque()
    scored: list[str] = []

    def add_rows(mixture: BenchmarkMixture, scores: dict[str, dict[str, np.ndarray]]) -> None:
        for system, system_scores in scores.items():
            for k, source in enumerate(mixture.sources):
                row = {
                    "id": mixture.id, "instrument": source.instrument, "system": system,
                    "sources": len(mixture.sources),
                }  # fmt: skip
                result.rows.append({**row, **{m: float(system_scores[m][k]) for m in METRIC_NAMES}})
        scored.append(mixture.id)
        if progress is not None:
            progress(len(scored), len(mixtures))

    def collect_first() -> None:
        mixture, future = pending.popleft()
        add_rows(mixture, future.result())

    context = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) if workers else nullcontext() as pool:
        for mixture in mixtures:
            mix = read_model_rate(mixture.mix)
            references = [read_model_rate(s.audio) for s in mixture.sources]
            length = min(len(mix), *(len(r) for r in references))
            mix, reference = mix[:length], np.stack([r[:length] for r in references])
            estimate = np.asarray(separate(mixture, mix), dtype=np.float64)[:, :length]
            estimates = {MODEL_ROW: estimate}
            if reference_rows:
                estimates["mixture"] = np.broadcast_to(mix, reference.shape)
                estimates.update(oracle_estimates(reference, mix))
            if pool is None:
                add_rows(mixture, score_systems(reference, estimates, mix))
                continue
            pending.append((mixture, pool.submit(score_systems, reference, estimates, mix)))
            # Collect what is ready, in order; wait when the queue is long (bounded memory).
            while pending and (pending[0][1].done() or len(pending) > 2 * workers):
                collect_first()
        while pending:
            collect_first()
    result.summary = summarize_rows(result.rows)
    return result


def size_group(sources: int) -> str:
    """The summary group of mixtures of ``sources`` sources, e.g. ``"2-source"``."""
    return f"{sources}-source"


def mixtures_by_size(mixtures: list[BenchmarkMixture]) -> dict[str, list[BenchmarkMixture]]:
    """``{size_group(n): the mixtures of n sources}``, smallest ``n`` first."""
    sizes = sorted({len(m.sources) for m in mixtures})
    return {size_group(n): [m for m in mixtures if len(m.sources) == n] for n in sizes}


def summarize_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """Mean / median of every metric per system: overall, per mixture size (when the rows mix
    sizes: a 2-source and a 3-source score are not comparable) and per instrument."""
    summary: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    systems = [MODEL_ROW, *SYSTEMS_REFERENCE]
    instruments = sorted({r["instrument"] for r in rows})
    sizes = sorted({r["sources"] for r in rows})
    for system in systems:
        mine = [r for r in rows if r["system"] == system]
        if not mine:
            continue
        by_size = {size_group(n): [r for r in mine if r["sources"] == n] for n in sizes}
        groups = {
            "overall": mine,
            **(by_size if len(sizes) > 1 else {}),
            **{i: [r for r in mine if r["instrument"] == i] for i in instruments},
        }
        summary[system] = {
            group: {m: summarize([r[m] for r in members]) for m in METRIC_NAMES}
            for group, members in groups.items()
            if members
        }
    return summary


def instrument_presets(mixtures: list[BenchmarkMixture]) -> dict[str, Preset]:
    """The stem preset named after every instrument of ``mixtures``, loaded and validated once
    (the preset search path: ``AVPC_PRESETS_PATH``, the user's folder, the shipped ``presets/``).

    Raises:
        BenchmarkError: an instrument with no preset of its name, or a preset that does not load
            (the message names the instrument and the preset's problem).
    """
    presets = {}
    for instrument in sorted({s.instrument for m in mixtures for s in m.sources}):
        try:
            presets[instrument] = load_preset(instrument)
        except PresetError as err:
            raise BenchmarkError(f"--presets: instrument {instrument!r}: {err}") from None
    return presets


def separator_function(
    separator: Any,
    cycles: int | None = None,
    normalise: bool = False,
    presets: Mapping[str, Preset] | None = None,
) -> Callable[[BenchmarkMixture, np.ndarray], np.ndarray]:
    """Wrap a :class:`~avpc_plugin.separate.Separator` as :func:`evaluate_benchmark`'s
    ``separate``: one stem per source, queried by the source's video and box.

    ``normalise`` shares every time-frequency bin among the mixture's sources (the Separator's
    ``normalise``: the estimates sum to the mix); off, each source's mask stands alone, as in the
    reference evaluation. ``presets`` (instrument -> preset, see :func:`instrument_presets`)
    queries every source with its instrument's preset, as ``avpc separate --stem
    violin=violin`` would: its mask mode, threshold, smoothing, band and post chain replace the
    Separator's own options (``cycles`` still applies where the preset leaves them at 0).
    """

    def separate(mixture: BenchmarkMixture, mix: np.ndarray) -> np.ndarray:
        stems = [
            StemQuery(
                name=f"source{k}", video=s.video, box=s.box,
                preset=None if presets is None else presets[s.instrument],
            )
            for k, s in enumerate(mixture.sources)
        ]  # fmt: skip
        result = separator.separate(
            mix[None].astype(np.float32), MODEL_RATE, stems, cycles=cycles, normalise=normalise
        )
        return np.stack([result[stem.name][0] for stem in stems])

    return separate
