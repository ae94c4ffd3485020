"""Duet and ensemble scenes: 2-4 performers side by side in one video, like concert footage.

Each performer is a solo of the synthetic corpus (:func:`~avpc_plugin.data.corpus.perform_solo`)
rendered in its own square panel; the panels sit left to right in one frame. A scene folder::

    DIR/scene.mp4       H.264 video, n * panel_size x panel_size pixels, with the mix as AAC
    DIR/mix.wav         the mixture (32-bit float): exactly the SUM of the solo files
    DIR/solo_<k>.wav    performer k's audio as it sounds in the mix (32-bit float), for evaluation
    DIR/scene.json      instruments, file names, boxes, rate, sources (see SceneRecord)

Performer ``k`` of ``n`` occupies the box ``(k / n, 0, 1 / n, 1)`` in normalised ``x, y, w, h``
(its panel: everything it draws stays inside). In stereo, performer ``k`` is panned to its place
on the stage with a constant-power law (the leftmost panel sounds left). The solos are scaled
together so the mix peaks at most at 0.9 (no clipping).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from avpc_plugin.audio.io import write_audio
from avpc_plugin.data.corpus import SynthConfig, perform_solo
from avpc_plugin.data.instruments import get_instrument
from avpc_plugin.data.render import Split
from avpc_plugin.video.encode import write_mp4

SCENE_JSON = "scene.json"
MIX_PEAK = 0.9
"""Largest absolute sample of a scene's mix."""


@dataclass(frozen=True)
class ScenePerformer:
    """One performer of a scene; paths are relative to the scene folder."""

    instrument: str
    solo: str
    box: tuple[float, float, float, float]
    """Normalised ``(x, y, w, h)`` of its panel in the frame."""
    pan: float
    """Stage position in ``[-1, 1]`` (-1 = left); 0 in mono."""
    soundfont: str
    picture: str


@dataclass(frozen=True)
class SceneRecord:
    """What :func:`synth_scene` wrote (``scene.json``); paths are absolute."""

    folder: Path
    video: Path
    mix: Path
    solos: list[Path]
    boxes: list[tuple[float, float, float, float]]
    instruments: list[str]
    sample_rate: int
    channels: int
    duration: float
    fps: float
    performers: list[ScenePerformer]


def synth_scene(
    out_dir: str | Path,
    instruments: list[str],
    duration: float,
    seed: int,
    sample_rate: int = 44100,
    stereo: bool = True,
    split: Split = "val",
    panel_size: int = 320,
    fps: float = 25.0,
) -> SceneRecord:
    """Render a scene of ``instruments`` playing together (see the module docstring).

    Args:
        out_dir: scene folder (created; files of the same names are replaced).
        instruments: 2-4 instrument class names, left to right (repeats allowed).
        duration: seconds.
        seed: fixes everything; performer ``k`` draws from ``default_rng([seed, k])``.
        sample_rate: audio rate in Hz.
        stereo: two channels with the performers panned across the stage; else mono.
        split: whose soundfonts and pictures to use (``"val"``: never trained on).
        panel_size: side of each performer's square panel in pixels (even, >= 32).
        fps: video frame rate.

    Returns:
        The :class:`SceneRecord`, also written as ``scene.json``.

    Raises:
        ValueError: fewer than 2 or more than 4 instruments; KeyError: an unknown instrument.
    """
    if not 2 <= len(instruments) <= 4:
        raise ValueError(f"instruments: expected 2 to 4 performers, got {len(instruments)}")
    for name in instruments:
        get_instrument(name)  # raises KeyError naming the bad name
    config = SynthConfig(
        duration=duration, sample_rate=sample_rate, stereo=stereo, fps=fps, size=panel_size
    )
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    count = len(instruments)
    solos, panels, performers = [], [], []
    for k, name in enumerate(instruments):
        solo = perform_solo(name, split, np.random.default_rng([seed, k]), config)
        pan = (2 * k + 1) / count - 1 if stereo else 0.0
        solos.append(_pan(solo.audio, pan))
        panels.append(solo.frames)
        performers.append(
            ScenePerformer(
                instrument=name,
                solo=f"solo_{k}.wav",
                box=(k / count, 0.0, 1 / count, 1.0),
                pan=pan,
                soundfont=solo.voice.name,
                picture=solo.picture.key,
            )
        )
    stack = np.stack(solos)  # (n, channels, samples)
    peak = float(np.abs(stack.sum(axis=0)).max())
    stack = (stack * min(1.0, MIX_PEAK / peak)).astype(np.float32)
    mix = stack.sum(axis=0)
    for performer, audio in zip(performers, stack, strict=True):
        write_audio(folder / performer.solo, audio, sample_rate, "32f", overwrite=True)
    write_audio(folder / "mix.wav", mix, sample_rate, "32f", overwrite=True)
    write_mp4(folder / "scene.mp4", np.concatenate(panels, axis=2), fps, mix, sample_rate)
    record = SceneRecord(
        folder=folder.resolve(),
        video=(folder / "scene.mp4").resolve(),
        mix=(folder / "mix.wav").resolve(),
        solos=[(folder / p.solo).resolve() for p in performers],
        boxes=[p.box for p in performers],
        instruments=list(instruments),
        sample_rate=sample_rate,
        channels=int(mix.shape[0]),
        duration=duration,
        fps=fps,
        performers=performers,
    )
    description = {
        "video": "scene.mp4",
        "mix": "mix.wav",
        "mix_is": "sum of solos",
        "sample_rate": sample_rate,
        "channels": record.channels,
        "duration": duration,
        "fps": fps,
        "size": [panel_size * count, panel_size],
        "seed": seed,
        "split": split,
        "performers": [asdict(p) for p in performers],
    }
    (folder / SCENE_JSON).write_text(json.dumps(description, indent=1), encoding="utf-8")
    return record


def _pan(audio: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan of ``(channels, samples)`` audio to ``position`` in ``[-1, 1]``;
    mono audio and the centre are left as they are (gains are 1 at the centre)."""
    if audio.shape[0] != 2 or position == 0:
        return audio
    angle = (position + 1) * np.pi / 4  # 0 = hard left, pi/2 = hard right
    gains = np.sqrt(2.0) * np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)
    return audio * gains[:, None]
