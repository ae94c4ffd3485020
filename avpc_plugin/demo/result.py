"""What a demo run writes where, and what it measured (:class:`DemoResult`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avpc_plugin.audio.io import BitDepth
from avpc_plugin.checkpoints.format import LoadedCheckpoint
from avpc_plugin.data.scene import SceneRecord
from avpc_plugin.separate import StemQuery

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
    """What :func:`~avpc_plugin.demo.run.run_demo` did and measured.

    Attributes:
        out: the output folder.
        scene: the synthetic clip (:class:`~avpc_plugin.data.scene.SceneRecord`).
        model_name: the registry name, or the checkpoint path as given.
        checkpoint: the loaded checkpoint (file, sha256, arch, config).
        device: the device the model ran on.
        queries: one per performer, in the scene's left-to-right order.
        normalise: whether the performers' masks shared every bin (``--normalise``).
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
    normalise: bool
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
