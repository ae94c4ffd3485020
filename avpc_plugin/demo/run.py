"""Run the demo: set up, synthesise the scene, separate, score, plot, report."""

from __future__ import annotations

import dataclasses
import os
import re
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import torch

from avpc_plugin.atomic import write_text_atomically
from avpc_plugin.audio.io import read_audio
from avpc_plugin.checkpoints.files import CheckpointError
from avpc_plugin.checkpoints.format import LoadedCheckpoint
from avpc_plugin.checkpoints.registry import RegistryError, default_model, load_model
from avpc_plugin.data.instruments import INSTRUMENT_NAMES, get_instrument
from avpc_plugin.data.scene import SceneRecord, synth_scene
from avpc_plugin.demo.report import format_report
from avpc_plugin.demo.result import (
    DEFAULT_INSTRUMENTS,
    NO_MODEL_MESSAGE,
    REPORT_MD,
    SCENE_DIR,
    SPECTROGRAMS_PNG,
    STEM_BIT_DEPTH,
    STEMS_DIR,
    SUM_TOLERANCE,
    DemoError,
    DemoResult,
    DemoTimings,
)
from avpc_plugin.demo.spectrograms import plot_spectrograms, spectrogram_panels
from avpc_plugin.evaluate.benchmark import read_model_rate
from avpc_plugin.metrics import separation_scores
from avpc_plugin.presets import Preset, ResidualSettings, list_presets, load_preset
from avpc_plugin.separate import Separator, SilentResidualWarning, StemQuery
from avpc_plugin.separate.separator import RESIDUAL, ProgressCallback


def parse_instruments(text: str) -> list[str]:
    """``"violin,cello"`` -> ``["violin", "cello"]`` (2-4 known instrument classes).

    Raises:
        ValueError: fewer than 2 or more than 4 names, or an unknown instrument (named).
    """
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


def demo_output_files(out: Path) -> list[Path]:
    """The files an earlier ``avpc demo`` wrote in ``out`` (found by their names: the report,
    the spectrograms, the scene's mix, video, record and solos, one stem per performer and the
    residual); anything else in the folder is not the demo's and is never listed."""
    stem = re.compile(rf"(?:{'|'.join(map(re.escape, INSTRUMENT_NAMES))})(?:_\d+)?")
    found = [out / REPORT_MD, out / SPECTROGRAMS_PNG]
    scene = out / SCENE_DIR
    found += [scene / name for name in ("mix.wav", "scene.mp4", "scene.json")]
    if scene.is_dir():
        found += sorted(p for p in scene.iterdir() if re.fullmatch(r"solo_\d+\.wav", p.name))
    stems = out / STEMS_DIR
    if stems.is_dir():
        found += sorted(
            p
            for p in stems.iterdir()
            if p.suffix == ".wav" and (p.stem == RESIDUAL or stem.fullmatch(p.stem))
        )
    return [p for p in found if p.is_file() and not p.is_symlink()]


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


def scene_queries(scene: SceneRecord, presets: bool = False) -> list[StemQuery]:
    """One visual query per performer: the scene video cropped to its box; with ``presets``,
    the instrument's preset (:func:`demo_preset`), else the model's plain soft mask."""
    return [
        StemQuery(
            name=name,
            video=scene.video,
            box=box,
            preset=demo_preset(instrument) if presets else None,
        )
        for name, instrument, box in zip(
            stem_names(scene.instruments), scene.instruments, scene.boxes, strict=True
        )
    ]


def separate_scene(
    separator: Separator,
    scene: SceneRecord,
    queries: Sequence[StemQuery],
    stems_dir: Path,
    normalise: bool = True,
    progress: ProgressCallback | None = None,
) -> dict[str, Path]:
    """Separate the scene's mix into ``stems_dir/<stem>.wav`` plus ``residual.wav`` (float wav,
    written atomically, replacing files of those names); ``normalise`` shares every bin among
    the performers' masks (the queries name every instrument that plays).

    Returns:
        stem name -> path, in query order, then ``"residual"``.
    """
    outputs = {name: stems_dir / f"{name}.wav" for name in [q.name for q in queries] + [RESIDUAL]}
    with warnings.catch_warnings():
        if normalise:  # the performers name every instrument: a silent residual is the point
            warnings.simplefilter("ignore", SilentResidualWarning)
        return separator.separate_to_files(
            scene.mix,
            outputs,
            stems=queries,
            residual=True,
            normalise=normalise,
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


def run_demo(
    out: str | os.PathLike[str],
    model: str | os.PathLike[str] | None = None,
    duration: float = 20.0,
    seed: int = 0,
    instruments: Sequence[str] = DEFAULT_INSTRUMENTS,
    device: str | torch.device | None = None,
    normalise: bool = True,
    presets: bool = False,
    overwrite: bool = False,
    echo: Callable[[str], None] = print,
    progress: Callable[[str], AbstractContextManager[ProgressCallback]] | None = None,
) -> DemoResult:
    """Build the clip, separate, score, plot, write the report (steps: :mod:`avpc_plugin.demo`).

    Args:
        out: output folder (created).
        model: registry name or checkpoint file; None: the registry's default.
        duration: seconds of the clip.
        seed: fixes the clip.
        instruments: 2-4 instrument classes, left to right.
        device: ``None`` (CUDA when present) or a device name.
        normalise: share every time-frequency bin among the performers' masks (``avpc separate
            --normalise``: right here, where the stems name every instrument that plays).
        presets: shape each stem with its instrument's preset (mask knobs and post chain, for
            listening; they lower the scores a little) instead of the plain soft mask.
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
    began = time.perf_counter()
    out_dir = Path(out)
    if duration <= 0:
        raise ValueError(f"duration: expected positive seconds, got {duration!r}")
    check_out_dir(out_dir, overwrite)
    model_name, checkpoint = load_demo_model(model, device)
    for old in demo_output_files(out_dir):  # an earlier run's stems must not outlive it
        old.unlink()
    separator = Separator(
        checkpoint.model,
        device=device,
        model_name=Path(model_name).name,
        model_sha256=checkpoint.sha256,
    )
    echo(f"model: {model_name} ({checkpoint.arch}, sha256 {checkpoint.sha256[:12]})")
    echo(f"device: {separator.device}")

    echo(f"[1/4] synthesising a {duration:g} s scene: {', '.join(instruments)} ...")
    scene = synth_scene(out_dir / SCENE_DIR, list(instruments), duration, seed)
    scene_seconds = time.perf_counter() - began

    echo(f"[2/4] separating {len(instruments)} stems + {RESIDUAL} ...")
    queries = scene_queries(scene, presets)
    stems_dir = out_dir / STEMS_DIR
    started = time.perf_counter()
    if progress is None:
        stems = separate_scene(separator, scene, queries, stems_dir, normalise)
    else:
        with progress("separating") as update:
            stems = separate_scene(separator, scene, queries, stems_dir, normalise, update)
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
        normalise=normalise,
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
