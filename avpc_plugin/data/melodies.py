"""Idiomatic solo phrases for each instrument, as timed MIDI-style notes.

A performance is a sequence of phrases in one key and mode, walking mostly stepwise along the
scale within a tessitura (a window of about an octave and a half placed inside the instrument's
real range), with rests between phrases (breaths for winds, bow changes for strings), a tempo
from the instrument's range, one articulation (legato, normal, staccato) and a dynamic level
shaped by a phrase contour and accents. Chord instruments (guitar, accordion) add chord tones.
Every pitch stays inside :attr:`Instrument.low` .. :attr:`Instrument.high`.

Times are in seconds from the start of the clip, pitches MIDI note numbers, velocities 1..127.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avpc_plugin.data.instruments import Instrument

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "pentatonic": (0, 2, 4, 7, 9),
}
"""Scales as semitone offsets from the tonic."""

ARTICULATION_GATE: dict[str, float] = {"legato": 1.02, "normal": 0.88, "staccato": 0.45}
"""Fraction of a note's written length that it sounds, per articulation."""

DYNAMIC_VELOCITY: dict[str, int] = {"p": 48, "mp": 62, "mf": 78, "f": 96, "ff": 112}
"""Base MIDI velocity of each dynamic level."""

_RHYTHMS_SUSTAINED = (0.5, 0.5, 1.0, 1.0, 1.0, 1.5, 2.0, 3.0)
_RHYTHMS_DECAYING = (0.25, 0.5, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0)
_STEPS = np.array([-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5])
_STEP_WEIGHTS = np.array([0.02, 0.03, 0.05, 0.10, 0.27, 0.05, 0.27, 0.10, 0.05, 0.03, 0.03])


@dataclass(frozen=True)
class Note:
    """One note: ``start`` and sounding ``duration`` in seconds, MIDI ``pitch`` and ``velocity``."""

    start: float
    duration: float
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Performance:
    """A generated solo performance and the musical choices behind it."""

    notes: tuple[Note, ...]
    tempo: float
    """Beats per minute."""
    tonic: int
    """Pitch class of the key, 0 = C."""
    mode: str
    """A key of :data:`SCALES`."""
    articulation: str
    """A key of :data:`ARTICULATION_GATE`."""
    dynamic: str
    """A key of :data:`DYNAMIC_VELOCITY`."""


def scale_pitches(tonic: int, mode: str, low: int, high: int) -> np.ndarray:
    """All MIDI pitches of the scale ``tonic``/``mode`` in ``low..high`` (inclusive), ascending."""
    if mode not in SCALES:
        raise KeyError(f"mode: unknown scale {mode!r}, expected one of {', '.join(SCALES)}")
    pitch_classes = {(tonic + step) % 12 for step in SCALES[mode]}
    return np.array([p for p in range(low, high + 1) if p % 12 in pitch_classes], dtype=np.int64)


def generate_performance(
    instrument: Instrument, duration: float, rng: np.random.Generator
) -> Performance:
    """A solo performance filling ``duration`` seconds, every pitch inside the instrument's range.

    Args:
        instrument: what plays (range, behaviour, chords, tempo range).
        duration: length of the clip in seconds (> 0); notes that would start after it are not
            generated, the last note may ring past it.
        rng: the source of every random choice (same state, same performance).
    """
    if duration <= 0:
        raise ValueError(f"duration: expected > 0 seconds, got {duration}")
    tempo = float(rng.uniform(*instrument.tempo))
    beat = 60.0 / tempo
    mode = str(rng.choice(list(SCALES)))
    tonic = int(rng.integers(12))
    sustained = instrument.behaviour == "sustained"
    articulation = str(rng.choice(["legato", "normal", "normal", "staccato"]))
    dynamic = str(rng.choice(list(DYNAMIC_VELOCITY)))

    # Tessitura: a window of up to 19 semitones inside the range, nearer the middle than the edges.
    span = min(19, instrument.high - instrument.low)
    room = instrument.high - instrument.low - span
    window_low = instrument.low + round(room * float(rng.beta(2.5, 2.5)))
    pitches = scale_pitches(tonic, mode, window_low, window_low + span)
    all_pitches = scale_pitches(tonic, mode, instrument.low, instrument.high)
    rhythms = _RHYTHMS_SUSTAINED if sustained else _RHYTHMS_DECAYING
    gate = ARTICULATION_GATE[articulation] if sustained else 1.6

    notes: list[Note] = []
    degree = int(rng.integers(len(pitches)))
    time = float(rng.uniform(0.0, 0.4))
    while time < duration:
        phrase_beats = float(rng.choice([4.0, 6.0, 8.0]))
        phrase_start = time
        elapsed = 0.0
        while elapsed < phrase_beats and time < duration:
            length = float(rng.choice(rhythms))
            step = int(rng.choice(_STEPS, p=_STEP_WEIGHTS))
            degree += step
            if degree < 0 or degree >= len(pitches):  # reflect off the tessitura edges
                degree -= 2 * step
                degree = min(max(degree, 0), len(pitches) - 1)
            contour = np.sin(np.pi * min(elapsed / phrase_beats, 1.0))  # swell to mid-phrase
            accent = 8 if abs(elapsed - round(elapsed)) < 1e-6 and round(elapsed) % 2 == 0 else 0
            velocity = DYNAMIC_VELOCITY[dynamic] + 14 * contour + accent + rng.normal(0.0, 4.0)
            onset = time + float(rng.normal(0.0, 0.008))  # a human is never exact
            onset = min(max(onset, 0.0), duration - 0.01)
            pitch = int(pitches[degree])
            notes.append(_note(onset, length * beat * gate, pitch, velocity))
            if instrument.chords and rng.random() < 0.35:
                for offset, tone in enumerate(_chord_tones(pitch, all_pitches, rng), start=1):
                    strum = 0.018 * offset if instrument.behaviour == "plucked" else 0.0
                    chord_onset = min(onset + strum, duration - 0.01)
                    notes.append(_note(chord_onset, length * beat * gate, tone, velocity - 10))
            time += length * beat
            elapsed += length
        if time - phrase_start > 0 and time < duration:  # breath / bow change between phrases
            time += float(rng.choice([0.5, 1.0, 1.5])) * beat
    notes.sort(key=lambda n: (n.start, n.pitch))
    return Performance(tuple(notes), tempo, tonic, mode, articulation, dynamic)


def _note(start: float, duration: float, pitch: int, velocity: float) -> Note:
    return Note(start, max(duration, 0.05), pitch, int(np.clip(round(velocity), 1, 127)))


def _chord_tones(root: int, scale: np.ndarray, rng: np.random.Generator) -> list[int]:
    """One or two scale tones a third and a fifth below ``root`` that exist in ``scale``."""
    index = int(np.searchsorted(scale, root))
    wanted = [2, 4][: int(rng.integers(1, 3))]
    return [int(scale[index - w]) for w in wanted if index - w >= 0]
