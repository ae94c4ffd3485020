"""The demo's Markdown report and terminal summary."""

from __future__ import annotations

from pathlib import Path

from avpc_plugin.demo.result import (
    SCENE_DIR,
    SPECTROGRAMS_PNG,
    STEMS_DIR,
    SUM_TOLERANCE,
    DemoResult,
)
from avpc_plugin.separate import StemQuery
from avpc_plugin.separate.separator import RESIDUAL


def format_report(result: DemoResult, seed: int) -> str:
    """The Markdown report: what was done, timings, scores and the sum check."""
    scene, checkpoint, timings = result.scene, result.checkpoint, result.timings
    parameters = sum(p.numel() for p in checkpoint.model.parameters())
    layout = ", ".join(
        f"{instrument} (box x={box[0]:g} y={box[1]:g} w={box[2]:g} h={box[3]:g})"
        for instrument, box in zip(scene.instruments, scene.boxes, strict=True)
    )
    lines = [
        "# avpc demo",
        "",
        f"A {scene.duration:g} s synthetic concert clip of {len(scene.instruments)} performers "
        f"side by side in one frame, left to right: {layout}; {scene.sample_rate} Hz, "
        f"{'stereo' if scene.channels == 2 else f'{scene.channels} channel(s)'}, seed {seed}. "
        "Each performer was separated from the mix with the scene video cropped to its box as "
        f"the visual query; {_masks_words(result)}; plus a `residual` stem.",
        "",
        "## Run",
        "",
        "| | |",
        "|---|---|",
        f"| model | `{Path(result.model_name).name}` ({checkpoint.arch}, "
        f"{parameters:,d} parameters) |",
        f"| checkpoint | `{checkpoint.path}` |",
        f"| sha256 | `{checkpoint.sha256[:16]}` |",
        f"| device | {result.device} |",
        f"| stems | {', '.join(f'{q.name} (preset {_preset_name(q)})' for q in result.queries)}"
        f", {RESIDUAL} |",
        f"| masks | {'normalised across the stems' if result.normalise else 'each on its own'} |",
        f"| scene synthesis | {timings.scene:.1f} s |",
        f"| separation | {timings.separation:.1f} s for {scene.duration:g} s of audio: real-time "
        f"factor {result.real_time_factor:.3f} ({_speed_words(result.real_time_factor)}) |",
        f"| scoring and plots | {timings.scoring:.1f} s |",
        f"| total | {timings.total:.1f} s |",
        "",
        "## Scores against the true solos",
        "",
        "BSS Eval v3 (dB) of the channel mean at 11025 Hz, as `avpc evaluate` scores. "
        "Mixture SDR: the mix itself taken as the stem; NSDR = SDR - mixture SDR.",
        "",
        score_table(result),
        "",
        "## Sum check",
        "",
        f"max |{' + '.join(result.stems)} - mix| = {result.sum_error:.2e} "
        f"(files read back; {'ok' if result.sum_error <= SUM_TOLERANCE else 'FAILED'}, "
        f"tolerance {SUM_TOLERANCE:g})",
        "",
        "## Files",
        "",
        f"- `{SCENE_DIR}/`: the clip (`{scene.video.name}`, `{scene.mix.name}`) and the true solos",
        *(f"- `{path.relative_to(result.out)}`" for path in result.stems.values()),
        f"- `{SPECTROGRAMS_PNG}`: true solo vs separated stem per performer, mix vs residual",
        "",
    ]
    return "\n".join(lines)


def score_table(result: DemoResult) -> str:
    """Markdown table: one row per performer, SDR / SIR / SAR / NSDR and the mixture's SDR."""
    header = "| stem | SDR | SIR | SAR | NSDR | mixture SDR |\n|---|---:|---:|---:|---:|---:|"
    rows = [
        f"| {query.name} | "
        + " | ".join(f"{result.scores[key][k]:.2f}" for key in ("sdr", "sir", "sar", "nsdr"))
        + f" | {result.scores['sdr_mix'][k]:.2f} |"
        for k, query in enumerate(result.queries)
    ]
    return "\n".join([header, *rows])


def _speed_words(real_time_factor: float) -> str:
    if real_time_factor <= 0:
        return "instant"
    if real_time_factor <= 1:
        return f"{1 / real_time_factor:.1f}x faster than real time"
    return f"{real_time_factor:.1f}x slower than real time"


def _masks_words(result: DemoResult) -> str:
    """How the stems were shaped, in words (presets or plain masks; normalised or not)."""
    if any(query.preset is not None for query in result.queries):
        words = "each stem shaped by its instrument's preset (residual rule `processed`)"
    else:
        words = "each stem the model's plain soft mask"
    if result.normalise:
        words += (
            ", the masks normalised to share every time-frequency bin (`--normalise`: the "
            "stems name every instrument that plays)"
        )
    return words


def _preset_name(query: StemQuery) -> str:
    preset = query.preset
    return "none" if preset is None else str(getattr(preset, "name", preset))


def summary_lines(result: DemoResult) -> list[str]:
    """A few lines for the terminal: timings, the score table, the sum check, the files."""
    timings = result.timings
    return [
        "",
        f"separated {result.scene.duration:g} s in {timings.separation:.1f} s "
        f"(real-time factor {result.real_time_factor:.3f}); total {timings.total:.1f} s",
        "",
        score_table(result),
        "",
        f"stems + {RESIDUAL} - mix: max abs error {result.sum_error:.2e}",
        f"wrote {result.out / STEMS_DIR}/, {result.spectrograms}, {result.report}",
    ]
