"""Tuning a preset's threshold, PCNet cycles and smoothing for the best SDR on a benchmark set.

The benchmark set is the folder ``avpc evaluate`` reads (``manifest.jsonl``, read by
:func:`~avpc_plugin.evaluate.benchmark.read_manifest`). Every source of the tuned instrument is
separated from its mixture with its own video and box and scored by BSS Eval SDR against its
reference, both at the model rate (11025 Hz) like ``avpc evaluate``.

The search is coordinate descent from the starting preset: one knob at a time (cycles, threshold,
time smoothing, frequency smoothing), every value of its grid tried with the other knobs fixed, the
best kept only if it beats the current score; ``rounds`` passes. All candidates of a knob run as
stems of one separation per mixture (the visual query is embedded once, the sound net runs once
per cycle count). The starting preset is always a candidate, so tuning never lowers the SDR.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from avpc_plugin.audio.stft import MODEL_RATE
from avpc_plugin.evaluate.benchmark import BenchmarkMixture, BenchmarkSource, read_model_rate
from avpc_plugin.metrics import bss_eval
from avpc_plugin.separate import Separator, StemQuery
from avpc_plugin.stem_settings.schema import Preset

DEFAULT_GRIDS: dict[str, tuple[float, ...]] = {
    "cycles": (0, 1, 2, 3, 4, 6, 8),
    "threshold": (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
    "time_ms": (0.0, 10.0, 25.0, 50.0, 100.0),
    "freq_hz": (0.0, 10.0, 20.0, 40.0),
}
"""Values tried per knob (cycles 0 = the model's trained number)."""
MIN_TUNE_SOURCES = 8
"""Below this many scored sources a tuned gain is mostly the set's chance: ``avpc presets tune``
warns that it may not hold on other footage."""


# -------------------------------------------------------------------------------------- search


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune_preset` found.

    Attributes:
        preset: the best preset (the starting one if nothing beat it), its ``tuned`` scores set.
        start_sdr: mean SDR (dB) of the starting preset.
        best_sdr: mean SDR (dB) of ``preset`` (>= ``start_sdr``).
        sources: sources scored per candidate.
        tried: (knob values, mean SDR) of every candidate evaluated.
    """

    preset: Preset
    start_sdr: float
    best_sdr: float
    sources: int
    tried: list[tuple[dict[str, float], float]]


def knob_values(preset: Preset) -> dict[str, float]:
    """The tuned knobs of ``preset``: cycles, threshold, time_ms, freq_hz."""
    return {
        "cycles": preset.mask.cycles,
        "threshold": preset.mask.threshold,
        "time_ms": preset.smoothing.time_ms,
        "freq_hz": preset.smoothing.freq_hz,
    }


def with_knob(preset: Preset, knob: str, value: float) -> Preset:
    """``preset`` with one knob changed."""
    if knob == "cycles":
        return replace(preset, mask=replace(preset.mask, cycles=int(value)))
    if knob == "threshold":
        return replace(preset, mask=replace(preset.mask, threshold=float(value)))
    if knob in ("time_ms", "freq_hz"):
        return replace(preset, smoothing=replace(preset.smoothing, **{knob: float(value)}))
    raise ValueError(f"knob: expected one of {', '.join(DEFAULT_GRIDS)}, got {knob!r}")


def score_candidates(
    separator: Separator,
    candidates: Sequence[Preset],
    items: Sequence[tuple[BenchmarkMixture, BenchmarkSource]],
) -> list[float]:
    """Mean SDR (dB) of each candidate over the ``(mixture, source)`` items (-inf if any is
    silent)."""
    totals = np.zeros(len(candidates))
    for mixture, source in items:
        stems = [
            StemQuery(f"candidate{k}", video=source.video, box=source.box, preset=candidate)
            for k, candidate in enumerate(candidates)
        ]
        mix = read_model_rate(mixture.mix).astype(np.float32)
        result = separator.separate(mix, MODEL_RATE, stems)
        reference = read_model_rate(source.audio)
        for k, stem in enumerate(stems):
            estimate = result[stem.name][0]
            length = min(len(reference), len(estimate))
            sdr = bss_eval(reference[None, :length], estimate[None, :length])["sdr"][0]
            totals[k] += sdr
    return [float(total / len(items)) for total in totals]


def tune_preset(
    separator: Separator,
    start: Preset,
    mixtures: Sequence[BenchmarkMixture],
    instrument: str,
    grids: Mapping[str, Sequence[float]] = DEFAULT_GRIDS,
    rounds: int = 1,
    progress: Callable[[str], None] | None = None,
) -> TuneResult:
    """Search ``grids`` (knob -> values) from ``start`` for the best mean SDR of ``instrument``.

    Raises:
        ValueError: no mixture has a source of ``instrument``, or an unknown knob.
    """
    items = [(m, s) for m in mixtures for s in m.sources if s.instrument == instrument]
    if not items:
        found = sorted({s.instrument for m in mixtures for s in m.sources})
        raise ValueError(
            f"instrument {instrument!r}: no source in the benchmark set "
            f"(it has: {', '.join(found)})"
        )
    for knob in grids:
        with_knob(start, knob, 0)  # validates the knob name
    scores: dict[tuple[float, ...], float] = {}
    tried: list[tuple[dict[str, float], float]] = []

    def evaluate(candidates: list[Preset]) -> list[float]:
        new = [c for c in candidates if tuple(knob_values(c).values()) not in scores]
        if new:
            for candidate, score in zip(new, score_candidates(separator, new, items), strict=True):
                scores[tuple(knob_values(candidate).values())] = score
                tried.append((knob_values(candidate), score))
        return [scores[tuple(knob_values(c).values())] for c in candidates]

    best, best_sdr = start, evaluate([start])[0]
    start_sdr = best_sdr
    for round_index in range(rounds):
        for knob, values in grids.items():
            candidates = [with_knob(best, knob, v) for v in values if _allowed(best, knob, v)]
            for candidate, score in zip(candidates, evaluate(candidates), strict=True):
                if score > best_sdr:
                    best, best_sdr = candidate, score
            if progress is not None:
                progress(
                    f"round {round_index + 1}, {knob}: best {best_sdr:.2f} dB "
                    f"({knob} = {knob_values(best)[knob]:g})"
                )
    tuned = (
        ("instrument", instrument),
        ("sdr_db", round(best_sdr, 3)),
        ("start_sdr_db", round(start_sdr, 3)),
        ("sources", len(items)),
    )
    return TuneResult(replace(best, tuned=tuned), start_sdr, best_sdr, len(items), tried)


def _allowed(preset: Preset, knob: str, value: float) -> bool:
    """Binary masks need a threshold above 0."""
    return not (knob == "threshold" and preset.mask.mode == "binary" and value <= 0)
