"""``avpc demo``: the product end to end on a synthetic concert clip whose true stems are known.

Steps (each one reuses the package's own path; nothing here separates or scores by itself):

1. :func:`~avpc_plugin.data.scene.synth_scene` renders a clip of performers side by side in one
   frame (44.1 kHz stereo by default) into ``OUT/scene/``, with each performer's true solo;
2. the :class:`~avpc_plugin.separate.Separator` separates the mix into one stem per performer,
   queried by the scene video cropped to that performer's box and the instrument's preset, plus
   ``residual``; stems go to ``OUT/stems/<name>.wav`` (32-bit float, so nothing clips and
   ``stems + residual`` is the mix to float precision);
3. ``OUT/spectrograms.png``: each performer's true solo next to its separated stem, then the mix
   next to the residual, on one log-frequency axis and one dB colour scale;
4. ``OUT/report.md``: the model, the settings, the timings, BSS Eval against the true solos (as
   ``avpc evaluate`` scores: channel mean at 11025 Hz) and the sum check.

No model is faked: without a trained model (``--model`` or the registry's default) the command
stops with one line saying how to pass one.
"""

from __future__ import annotations

import dataclasses
import io
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np
import torch

from avpc_plugin.audio.io import BitDepth
from avpc_plugin.checkpoints.format import LoadedCheckpoint
from avpc_plugin.data.scene import SceneRecord
from avpc_plugin.separate import Separator, StemQuery
from avpc_plugin.separate.progress import progress_bar
from avpc_plugin.separate.separator import RESIDUAL, ProgressCallback

if TYPE_CHECKING:
    from avpc_plugin.presets import Preset

DEFAULT_INSTRUMENTS = ("violin", "cello")
SCENE_DIR = "scene"
STEMS_DIR = "stems"
SPECTROGRAMS_PNG = "spectrograms.png"
REPORT_MD = "report.md"
STEM_BIT_DEPTH: BitDepth = "32f"
"""Float wav: no clipping and no quantisation, so the sum check sees the separator's own error."""

SUM_TOLERANCE = 1e-4
"""Largest acceptable ``|stems + residual - mix|`` sample (float wav files read back)."""

NO_MODEL_MESSAGE = (
    "no trained model is registered yet (the model registry lists none): pass a checkpoint "
    "file with --model PATH (e.g. one written by `avpc train`)"
)

FIGURE_WIDTH_PX = 1600
FIGURE_ROW_PX = 330
FIGURE_HEADER_PX = 70
FIGURE_FOOTER_PX = 50
_DPI = 100
DB_RANGE = 80.0
"""Decibels shown below the loudest bin of the mix (0 dB)."""
SPECTROGRAM_ROWS = 384
"""Rows of the log-frequency axis of the PNG."""
SPECTROGRAM_LOWEST_HZ = 40.0
"""Bottom of the PNG's frequency axis in Hz."""
_TICK_HZ = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)


class DemoError(Exception):
    """A demo that cannot run (no model, existing output folder, ...); the message says why."""


@dataclass(frozen=True)
class DemoTimings:
    """Wall-clock seconds of each step."""

    scene: float
    separation: float
    scoring: float
    total: float


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` did and measured.

    Attributes:
        out: the output folder.
        scene: the synthetic clip (:class:`~avpc_plugin.data.scene.SceneRecord`).
        model_name: the registry name, or the checkpoint path as given.
        checkpoint: the loaded checkpoint (file, sha256, arch, config).
        device: the device the model ran on.
        queries: one per performer, in the scene's left-to-right order.
        stems: stem name (the queries' and ``"residual"``) -> written wav file.
        scores: ``{"sdr", "sir", "sar", "nsdr", "sdr_mix"}`` -> ``(N,)`` dB per performer.
        sum_error: max absolute sample of ``stems + residual - mix`` (files read back).
        timings: seconds per step.
        spectrograms: the PNG; report: the Markdown report.
    """

    out: Path
    scene: SceneRecord
    model_name: str
    checkpoint: LoadedCheckpoint
    device: str
    queries: list[StemQuery]
    stems: dict[str, Path]
    scores: dict[str, np.ndarray]
    sum_error: float
    timings: DemoTimings
    spectrograms: Path
    report: Path

    @property
    def real_time_factor(self) -> float:
        """Separation seconds per second of audio (below 1: faster than real time)."""
        return self.timings.separation / self.scene.duration


# ------------------------------------------------------------------------------------ set-up


def parse_instruments(text: str) -> list[str]:
    """``"violin,cello"`` -> ``["violin", "cello"]`` (2-4 known instrument classes).

    Raises:
        ValueError: fewer than 2 or more than 4 names, or an unknown instrument (named).
    """
    from avpc_plugin.data.instruments import get_instrument

    names = [part.strip() for part in text.split(",") if part.strip()]
    if not 2 <= len(names) <= 4:
        raise ValueError(f"{text!r}: expected 2 to 4 comma-separated instruments")
    for name in names:
        try:
            get_instrument(name)
        except KeyError as err:
            raise ValueError(str(err.args[0]) if err.args else name) from None
    return names


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse an existing, non-empty ``out`` unless ``overwrite`` (an empty folder is fine).

    Raises:
        DemoError: ``out`` is a file, or a non-empty folder without ``overwrite``.
    """
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DemoError(
            f"--out {out}: already exists; pass --overwrite to replace the demo's files in it, "
            "or choose another folder"
        )


def load_demo_model(
    model: str | os.PathLike[str] | None, device: str | torch.device | None
) -> tuple[str, LoadedCheckpoint]:
    """The model to demonstrate: ``model`` (a registry name or a checkpoint file) or the
    registry's default.

    Returns:
        ``(name, checkpoint)``: the registry name (or the path as given) and the loaded net.

    Raises:
        DemoError: no ``model`` and no registered default (:data:`NO_MODEL_MESSAGE`), or one that
            cannot be found or loaded (the message names it).
    """
    from avpc_plugin.checkpoints import CheckpointError, RegistryError, default_model, load_model

    if model is None:
        entry = default_model()
        if entry is None:
            raise DemoError(NO_MODEL_MESSAGE)
        model = entry.name
    try:
        return os.fspath(model), load_model(model, device=device)
    except KeyError as err:
        raise DemoError(f"--model {model}: {err.args[0] if err.args else err}") from None
    except (FileNotFoundError, CheckpointError, RegistryError) as err:
        raise DemoError(f"--model {model}: {err}") from None


def demo_preset(instrument: str) -> Preset | None:
    """The instrument's preset with the residual rule ``"processed"``, or None if it has none.

    The residual then takes back what the post chain removes from a stem, so the written stems
    and residual still sum to the mix (the shipped presets subtract the stem *before* its chain).
    """
    from avpc_plugin.presets import ResidualSettings, list_presets, load_preset

    if instrument not in list_presets():
        return None
    preset = load_preset(instrument)
    return dataclasses.replace(preset, residual=ResidualSettings(subtract="processed"))


def stem_names(instruments: Sequence[str]) -> list[str]:
    """One unique stem name per performer: the instrument, numbered from the second repeat
    (``["violin", "violin", "cello"]`` -> ``["violin", "violin_2", "cello"]``)."""
    names: list[str] = []
    for instrument in instruments:
        count = sum(1 for earlier in instruments[: len(names)] if earlier == instrument)
        names.append(instrument if count == 0 else f"{instrument}_{count + 1}")
    return names


def scene_queries(scene: SceneRecord) -> list[StemQuery]:
    """One visual query per performer: the scene video cropped to its box, its preset."""
    return [
        StemQuery(name=name, video=scene.video, box=box, preset=demo_preset(instrument))
        for name, instrument, box in zip(
            stem_names(scene.instruments), scene.instruments, scene.boxes, strict=True
        )
    ]


# ---------------------------------------------------------------------------- separate, score


def separate_scene(
    separator: Separator,
    scene: SceneRecord,
    queries: Sequence[StemQuery],
    stems_dir: Path,
    progress: ProgressCallback | None = None,
) -> dict[str, Path]:
    """Separate the scene's mix into ``stems_dir/<stem>.wav`` plus ``residual.wav`` (float wav,
    written atomically, replacing files of those names).

    Returns:
        stem name -> path, in query order, then ``"residual"``.
    """
    outputs = {name: stems_dir / f"{name}.wav" for name in [q.name for q in queries] + [RESIDUAL]}
    return separator.separate_to_files(
        scene.mix,
        outputs,
        stems=queries,
        residual=True,
        bit_depth=STEM_BIT_DEPTH,
        overwrite=True,
        progress=progress,
    )


def score_stems(
    scene: SceneRecord, stems: dict[str, Path], queries: Sequence[StemQuery]
) -> dict[str, np.ndarray]:
    """BSS Eval of each performer's stem against its true solo, as ``avpc evaluate`` scores
    (channel mean at the 11025 Hz model rate, mixture baseline for NSDR).

    Returns:
        ``{"sdr", "sir", "sar", "nsdr", "sdr_mix"}`` -> ``(N,)`` float64 dB, performers in order.
    """
    from avpc_plugin.evaluate.benchmark import read_model_rate
    from avpc_plugin.metrics import separation_scores

    mix = read_model_rate(scene.mix)
    references = np.stack([read_model_rate(path) for path in scene.solos])
    estimates = np.stack([read_model_rate(stems[q.name]) for q in queries])
    length = min(len(mix), references.shape[1], estimates.shape[1])
    return separation_scores(references[:, :length], estimates[:, :length], mix[:length])


def sum_error(mix_path: Path, parts: Sequence[Path]) -> float:
    """Max absolute sample of ``sum(parts) - mix``, reading the files back.

    Raises:
        DemoError: a part's shape or rate differs from the mix's.
    """
    from avpc_plugin.audio.io import read_audio

    mix, rate = read_audio(mix_path)
    total = np.zeros(mix.shape, dtype=np.float64)
    for path in parts:
        audio, part_rate = read_audio(path)
        if audio.shape != mix.shape or part_rate != rate:
            raise DemoError(
                f"{path}: {audio.shape} at {part_rate} Hz, expected {mix.shape} at {rate} Hz "
                f"like {mix_path}"
            )
        total += audio
    return float(np.abs(total - mix).max())


# ------------------------------------------------------------------------------- spectrograms


def log_spectrogram(
    audio: np.ndarray,
    sample_rate: int,
    rows: int = SPECTROGRAM_ROWS,
    lowest_hz: float = SPECTROGRAM_LOWEST_HZ,
) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude spectrogram of the channel mean on a logarithmic frequency axis.

    Args:
        audio: float ``(channels, samples)``.
        sample_rate: Hz.
        rows: rows of the frequency axis, geometrically spaced from ``lowest_hz`` to Nyquist.
        lowest_hz: frequency of the bottom row.

    Returns:
        ``(magnitude (rows, frames), row_hz (rows,))``: linear STFT magnitude, interpolated
        linearly between bins, and each row's frequency in Hz. The STFT window is a power of two
        near 93 ms (4096 samples at 44.1 kHz), the hop a quarter of it.
    """
    from avpc_plugin.audio.stft import StftConfig, stft

    n_fft = 2 ** round(np.log2(sample_rate * 0.093))
    config = StftConfig(n_fft=n_fft, hop=n_fft // 4, pad_mode="constant")
    mono = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32).mean(axis=0))
    magnitude = stft(mono, config).abs().numpy()  # (bins, frames)
    row_hz = np.geomspace(lowest_hz, sample_rate / 2, rows)
    position = row_hz * n_fft / sample_rate  # fractional bin of each row
    lower = np.minimum(position.astype(int), config.bins - 2)
    weight = (position - lower)[:, None]
    return (1 - weight) * magnitude[lower] + weight * magnitude[lower + 1], row_hz


Panel = tuple[str, np.ndarray]
"""A spectrogram panel: its title and float ``(channels, samples)`` audio."""


def plot_spectrograms(
    out: Path, rows: Sequence[tuple[Panel, Panel]], sample_rate: int, title: str
) -> tuple[int, int]:
    """Write a PNG of spectrogram pairs, one pair per row, on one dB colour scale.

    Args:
        out: PNG path (written atomically).
        rows: ``(left panel, right panel)`` per row; audio at ``sample_rate``.
        sample_rate: Hz.
        title: the figure's heading.

    Returns:
        ``(width, height)`` in pixels: ``FIGURE_WIDTH_PX`` and
        ``FIGURE_HEADER_PX + FIGURE_FOOTER_PX + FIGURE_ROW_PX * len(rows)``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from avpc_plugin.atomic import write_bytes_atomically

    if not rows:
        raise ValueError("rows: expected at least one pair of panels")
    spectra = [[log_spectrogram(audio, sample_rate) for _, audio in pair] for pair in rows]
    row_hz = spectra[0][0][1]
    peak = max(float(magnitude.max()) for pair in spectra for magnitude, _ in pair) or 1.0
    width = FIGURE_WIDTH_PX
    height = FIGURE_HEADER_PX + FIGURE_FOOTER_PX + FIGURE_ROW_PX * len(rows)
    figure, axes = plt.subplots(
        len(rows), 2, figsize=(width / _DPI, height / _DPI), dpi=_DPI, squeeze=False
    )
    bottom, top = FIGURE_FOOTER_PX / height, 1 - FIGURE_HEADER_PX / height
    figure.subplots_adjust(left=0.05, right=0.91, bottom=bottom, top=top, wspace=0.08, hspace=0.3)
    ticks = [(float(np.interp(f, row_hz, np.arange(len(row_hz)))), f) for f in _TICK_HZ]
    ticks = [(row, f) for row, f in ticks if f <= row_hz[-1]]
    floor = 10 ** (-(DB_RANGE + 20) / 20)
    for r, pair in enumerate(rows):
        for c, (panel_title, audio) in enumerate(pair):
            db = 20 * np.log10(np.maximum(spectra[r][c][0] / peak, floor))
            ax = axes[r][c]
            image = ax.imshow(
                db, origin="lower", aspect="auto", cmap="magma", vmin=-DB_RANGE, vmax=0.0,
                extent=(0.0, audio.shape[-1] / sample_rate, -0.5, db.shape[0] - 0.5),
                interpolation="nearest",
            )  # fmt: skip
            ax.set_title(panel_title, fontsize=11, loc="left")
            ax.set_yticks([t for t, _ in ticks], [_hz_label(f) for _, f in ticks])
            ax.tick_params(labelsize=8)
            if c == 0:
                ax.set_ylabel("frequency (Hz)", fontsize=9)
            if r == len(rows) - 1:
                ax.set_xlabel("time (s)", fontsize=9)
    colour_axes = figure.add_axes((0.93, bottom, 0.012, top - bottom))
    figure.colorbar(image, cax=colour_axes, label="dB (0 = loudest bin of all panels)")
    figure.suptitle(title, fontsize=13, y=1 - 0.25 * FIGURE_HEADER_PX / height, va="top")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    plt.close(figure)
    write_bytes_atomically(out, buffer.getvalue())
    return width, height


def _hz_label(hertz: float) -> str:
    return f"{hertz / 1000:g}k" if hertz >= 1000 else f"{hertz:g}"


def spectrogram_panels(
    scene: SceneRecord, stems: dict[str, Path], queries: Sequence[StemQuery]
) -> list[tuple[Panel, Panel]]:
    """The PNG's rows: each performer's true solo and separated stem, then the mix and residual."""
    from avpc_plugin.audio.io import read_audio

    rows: list[tuple[Panel, Panel]] = [
        (
            (f"{instrument}: true solo", read_audio(solo)[0]),
            (f"{query.name}: separated stem", read_audio(stems[query.name])[0]),
        )
        for query, instrument, solo in zip(queries, scene.instruments, scene.solos, strict=True)
    ]
    rows.append((("mix", read_audio(scene.mix)[0]), (RESIDUAL, read_audio(stems[RESIDUAL])[0])))
    return rows


# ------------------------------------------------------------------------------------- report


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
        "the visual query and its instrument's preset (residual rule `processed`), plus a "
        "`residual` stem.",
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


def _preset_name(query: StemQuery) -> str:
    preset = query.preset
    return "none" if preset is None else str(getattr(preset, "name", preset))


# ---------------------------------------------------------------------------------------- run


def run_demo(
    out: str | os.PathLike[str],
    model: str | os.PathLike[str] | None = None,
    duration: float = 20.0,
    seed: int = 0,
    instruments: Sequence[str] = DEFAULT_INSTRUMENTS,
    device: str | torch.device | None = None,
    overwrite: bool = False,
    echo: Callable[[str], None] = print,
    progress: Callable[[str], AbstractContextManager[ProgressCallback]] | None = None,
) -> DemoResult:
    """Build the clip, separate it, plot and score it, write the report (module docstring).

    Args:
        out: output folder (created).
        model: registry name or checkpoint file; None: the registry's default.
        duration: seconds of the clip.
        seed: fixes the clip.
        instruments: 2-4 instrument classes, left to right.
        device: ``None`` (CUDA when present) or a device name.
        overwrite: allow an existing non-empty ``out`` (the demo's files in it are replaced).
        echo: prints one line per step.
        progress: ``description -> context manager yielding a ProgressCallback`` for the
            separation (default: no progress display).

    Returns:
        The :class:`DemoResult`.

    Raises:
        DemoError: no model, an existing ``out`` without ``overwrite``, a bad model file, or a
            sum check that fails.
        ValueError: bad ``duration`` or ``instruments``.
    """
    from avpc_plugin.atomic import write_text_atomically
    from avpc_plugin.data.scene import synth_scene

    began = time.perf_counter()
    out_dir = Path(out)
    if duration <= 0:
        raise ValueError(f"duration: expected positive seconds, got {duration!r}")
    check_out_dir(out_dir, overwrite)
    model_name, checkpoint = load_demo_model(model, device)
    separator = Separator(checkpoint.model, device=device)
    echo(f"model: {model_name} ({checkpoint.arch}, sha256 {checkpoint.sha256[:12]})")
    echo(f"device: {separator.device}")

    echo(f"[1/4] synthesising a {duration:g} s scene: {', '.join(instruments)} ...")
    scene = synth_scene(out_dir / SCENE_DIR, list(instruments), duration, seed)
    scene_seconds = time.perf_counter() - began

    echo(f"[2/4] separating {len(instruments)} stems + {RESIDUAL} ...")
    queries = scene_queries(scene)
    started = time.perf_counter()
    if progress is None:
        stems = separate_scene(separator, scene, queries, out_dir / STEMS_DIR)
    else:
        with progress("separating") as update:
            stems = separate_scene(separator, scene, queries, out_dir / STEMS_DIR, update)
    separation_seconds = time.perf_counter() - started

    echo("[3/4] scoring against the true solos and drawing spectrograms ...")
    started = time.perf_counter()
    scores = score_stems(scene, stems, queries)
    error = sum_error(scene.mix, list(stems.values()))
    png = out_dir / SPECTROGRAMS_PNG
    plot_spectrograms(
        png,
        spectrogram_panels(scene, stems, queries),
        scene.sample_rate,
        f"avpc demo: {Path(model_name).name} ({checkpoint.sha256[:8]}), {duration:g} s, "
        f"{scene.sample_rate} Hz; channel mean, one dB scale",
    )
    scoring_seconds = time.perf_counter() - started

    echo("[4/4] writing the report ...")
    result = DemoResult(
        out=out_dir,
        scene=scene,
        model_name=model_name,
        checkpoint=checkpoint,
        device=str(separator.device),
        queries=queries,
        stems=stems,
        scores=scores,
        sum_error=error,
        timings=DemoTimings(
            scene_seconds,
            separation_seconds,
            scoring_seconds,
            time.perf_counter() - began,
        ),
        spectrograms=png,
        report=out_dir / REPORT_MD,
    )
    write_text_atomically(result.report, format_report(result, seed))
    if error > SUM_TOLERANCE:
        raise DemoError(
            f"sum check failed: stems + {RESIDUAL} differ from the mix by up to {error:.2e} "
            f"(see {result.report})"
        )
    return result


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


# ------------------------------------------------------------------------------------ command


@click.command("demo")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Output folder.",
)
@click.option(
    "--model",
    default=None,
    metavar="NAME|PATH",
    help="Registry name or checkpoint file (default: the registry's default model).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1.0),
    default=20.0,
    show_default=True,
    help="Seconds of the synthetic clip.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Fixes the clip.")
@click.option(
    "--instruments",
    default=",".join(DEFAULT_INSTRUMENTS),
    show_default=True,
    help="2-4 comma-separated instrument classes, left to right.",
)
@click.option("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when present).")
@click.option("--overwrite", is_flag=True, help="Reuse an existing output folder.")
def demo_command(
    out: Path,
    model: str | None,
    duration: float,
    seed: int,
    instruments: str,
    device: str | None,
    overwrite: bool,
) -> None:
    """Separate a synthetic concert clip with a trained model and report how well it did.

    Writes OUT/scene/ (clip and true solos), OUT/stems/*.wav (one stem per performer and the
    residual), OUT/spectrograms.png and OUT/report.md.
    """
    try:
        names = parse_instruments(instruments)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--instruments") from None
    try:
        result = run_demo(
            out,
            model=model,
            duration=duration,
            seed=seed,
            instruments=names,
            device=device,
            overwrite=overwrite,
            echo=click.echo,
            progress=progress_bar,
        )
    except DemoError as err:
        raise click.ClickException(str(err)) from None
    except (OSError, ValueError, RuntimeError) as err:
        raise click.ClickException(f"{type(err).__name__}: {err}") from None
    for line in summary_lines(result):
        click.echo(line)
