"""Physical-model instruments from the Synthesis ToolKit (STK), played by Debian's ``stk-demo``.

Debian's ``stk`` package ships ``stk-demo`` (a command-line player of STK's instruments that
reads a SKINI score and writes a MAT-file of float64 samples) and the rawwaves it needs;
``libstk`` is a C++ library with no C interface, and PyPI has no maintained binding, so a clip
is one ``stk-demo`` run on a score written to a temporary folder (about 10-40 ms for 6 s).

Each instrument class is mapped to the STK models that honestly make its kind of sound
(:data:`STK_VOICES`): the bowed-string model for violin, cello and erhu, the flute, clarinet and
saxophone models for those, the plucked-string models (Karplus-Strong, mandolin, stiff string)
and the plucked-string models (Karplus-Strong, mandolin, stiff string) for the guitar.
Accordion (no free-reed model in STK), trumpet, tuba and xylophone have none: STK 4.6.2's
``Brass`` only speaks above about F5 through the demo's controls, and ``ModalBar``'s wooden
presets sound octaves off below about A6 while its marimba preset is up to a semitone off
(measured with :func:`measure_tuning`); a wrong-pitched clip would teach the model wrong sounds.

The waveguide models play slightly off pitch, more so up high (a flute +25..+50 cents, a
plucked string up to -40 cents), so every voice has a tuning table measured with
:func:`measure_tuning` and sends fractional MIDI notes that cancel most of it (within about 15
cents for the winds and plucked strings; the bowed model's pitch moves with bow pressure and
vibrato and stays within about 40 cents). A voice only plays the
range where it was measured to speak in tune (``low..high``); a phrase outside it is played by
another family (see :mod:`avpc_plugin.data.voices`).

``AVPC_STK_DEMO`` names another ``stk-demo`` executable (default: ``stk-demo`` on ``PATH``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from avpc_plugin.data.melodies import Note
from avpc_plugin.data.pitch import cents, estimate_f0
from avpc_plugin.data.rates import resample, synth_rate

STK_PACKAGE = "stk"
"""The Debian package that installs ``stk-demo`` and its rawwaves."""

_GAIN = 0.5


@dataclass(frozen=True)
class Control:
    """An STK control change sent with every note: MIDI-style value drawn per clip uniformly in
    ``low..high`` (0..128), or among ``choices`` when given (e.g. a modal-bar preset)."""

    number: int
    low: float = 0.0
    high: float = 0.0
    choices: tuple[int, ...] = ()

    def draw(self, rng: np.random.Generator) -> float:
        """One value for a clip."""
        if self.choices:
            return float(self.choices[int(rng.integers(len(self.choices)))])
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class StkVoice:
    """An STK instrument as one class plays it.

    Attributes:
        model: the STK class name ``stk-demo`` takes (``"Bowed"``, ``"Clarinet"``, ...).
        low, high: MIDI notes (inclusive) where the model was measured to speak in tune.
        controls: control changes drawn per clip (vibrato, bow pressure, breath noise, ...).
        tuning: ``(midi note, cents the model plays sharp)`` anchors, linearly interpolated;
            the note sent is corrected by minus that.
        polyphony: voices to allocate (chords and ringing plucked notes need several).
    """

    model: str
    low: int
    high: int
    controls: tuple[Control, ...] = ()
    tuning: tuple[tuple[int, float], ...] = ()
    polyphony: int = 1

    def plays(self, low: int, high: int) -> bool:
        """Whether a phrase spanning MIDI notes ``low..high`` lies in this voice's range."""
        return self.low <= low and high <= self.high

    def correction(self, pitch: int) -> float:
        """The fractional MIDI note to send for ``pitch`` so that it sounds in tune."""
        if not self.tuning:
            return float(pitch)
        anchors, offsets = zip(*self.tuning, strict=True)
        return float(pitch - np.interp(pitch, anchors, offsets) / 100.0)


def _vibrato(gain: tuple[float, float], rate_cc: int = 11) -> tuple[Control, Control]:
    return Control(1, *gain), Control(rate_cc, 40.0, 70.0)  # gain; rate about 4.5 to 7 Hz


_BOWED_TUNING = (
    (40, 48.0),
    (48, 18.0),
    (56, 32.0),
    (64, 33.0),
    (72, 50.0),
    (80, 73.0),
    (90, 113.0),
)
_PLUCKED_TUNING = (
    (40, -6.4),
    (48, -10.2),
    (56, -16.4),
    (64, -26.0),
    (72, -41.0),
    (80, -64.0),
    (83, -76.0),
)

STK_VOICES: dict[str, tuple[StkVoice, ...]] = {
    "acoustic_guitar": (
        StkVoice("Plucked", 40, 83, tuning=_PLUCKED_TUNING, polyphony=6),
        StkVoice(
            "Mandolin",
            40,
            83,
            (Control(2, 30.0, 100.0), Control(4, 20.0, 90.0), Control(11, 90.0, 120.0)),
            tuning=((40, -10.8), (48, -14.6), (60, -24.8), (68, -36.8), (76, -54.6), (83, -80.0)),
            polyphony=6,
        ),
        StkVoice(
            "StifKarp",
            40,
            83,
            (Control(4, 20.0, 100.0), Control(11, 90.0, 125.0)),
            tuning=_PLUCKED_TUNING,
            polyphony=6,
        ),
    ),
    "cello": (
        StkVoice(
            model="Bowed",
            low=40,
            high=81,
            tuning=_BOWED_TUNING,
            controls=(Control(2, 108.0, 122.0), *_vibrato((1.0, 6.0))),
        ),
    ),
    "clarinet": (
        StkVoice(
            "Clarinet",
            50,
            94,
            (Control(2, 50.0, 80.0), Control(4, 5.0, 40.0), *_vibrato((0.0, 8.0))),
        ),
    ),
    "erhu": (
        StkVoice(
            model="Bowed",
            low=62,
            high=90,
            tuning=_BOWED_TUNING,
            controls=(Control(2, 108.0, 122.0), *_vibrato((4.0, 12.0))),
        ),
    ),
    "flute": (
        StkVoice(
            "Flute",
            60,
            92,
            (Control(4, 10.0, 50.0), *_vibrato((5.0, 25.0))),
            tuning=((60, 24.6), (68, 28.2), (76, 34.2), (84, 45.6), (88, 54.4), (92, 72.0)),
        ),
    ),
    "saxophone": (
        StkVoice(
            "Saxofony",
            49,
            80,
            (Control(11, 50.0, 80.0), Control(4, 5.0, 40.0), *_vibrato((5.0, 25.0), 29)),
            tuning=((49, -10.4), (57, -16.8), (65, -27.2), (73, -42.9), (80, -63.9)),
        ),
    ),
    "violin": (
        StkVoice(
            model="Bowed",
            low=55,
            high=90,
            tuning=_BOWED_TUNING,
            controls=(Control(2, 108.0, 122.0), *_vibrato((2.0, 8.0))),
        ),
    ),
}
"""The STK voices each class may play with (classes without one are absent)."""


def stk_demo() -> Path | None:
    """The ``stk-demo`` executable (``AVPC_STK_DEMO`` or on ``PATH``), or ``None``."""
    named = os.environ.get("AVPC_STK_DEMO")
    if named:
        if not Path(named).is_file():
            raise FileNotFoundError(f"AVPC_STK_DEMO: no file at {named}")
        return Path(named)
    found = shutil.which("stk-demo")
    return Path(found) if found else None


FROZEN_CLOCK = "2000-01-01 00:00:00"
"""The wall clock ``stk-demo`` sees, stopped: STK seeds its noise generators (breath, bow and reed
noise) from the time of day, so without a stopped clock the same score renders differently each
second (a clock that only starts at this date still ticks across a second now and then)."""
FAKETIME_PACKAGE = "faketime"
"""The Debian package whose ``faketime`` runs a program on a fixed clock."""


def _frozen_clock() -> list[str]:
    """The command prefix that runs a program with the clock stopped at :data:`FROZEN_CLOCK`."""
    found = shutil.which("faketime")
    if found is None:
        raise FileNotFoundError(
            f"faketime: not found on PATH (Debian package {FAKETIME_PACKAGE}); stk-demo needs a "
            "fixed clock to render the same clip twice"
        )
    return [found, "-f", FROZEN_CLOCK]  # -f: stopped (without it the fake clock ticks on)


@dataclass(frozen=True)
class StkExpression:
    """One clip's playing: the control values of its voice (number -> 0..128 value)."""

    controls: dict[int, float] = field(default_factory=dict)

    @staticmethod
    def random(voice: StkVoice, rng: np.random.Generator) -> StkExpression:
        """Draw every control of ``voice`` from ``rng``."""
        return StkExpression({c.number: c.draw(rng) for c in voice.controls})


def skini_score(
    notes: tuple[Note, ...] | list[Note],
    voice: StkVoice,
    expression: StkExpression,
    duration: float,
) -> str:
    """The SKINI score ``stk-demo`` plays for ``notes`` (delta times in seconds).

    The demo's own reverb is turned off (control 44), every note-on is followed by the clip's
    control values, notes from ``duration`` on are left out, and a last control message at
    ``duration`` keeps the demo running to the end of the clip.
    """
    events: list[tuple[float, int, str]] = []  # (time, order, message without the time)
    for note in notes:
        if note.start >= duration:
            continue
        sent = f"{voice.correction(note.pitch):.4f}"
        events.append((note.start, 1, f"NoteOn {{t}} 1 {sent} {note.velocity}"))
        for number, value in expression.controls.items():
            events.append((note.start, 2, f"ControlChange {{t}} 1 {number} {value:.2f}"))
        end = note.start + note.duration
        if end < duration:
            events.append((end, 0, f"NoteOff {{t}} 1 {sent} 64"))
    events.sort(key=lambda e: (e[0], e[1]))
    lines = ["ControlChange 0.000000 1 44 0"]
    previous = 0.0
    for time, _, message in events:
        lines.append(message.format(t=f"{time - previous:.6f}"))
        previous = time
    lines.append(f"ControlChange {duration - previous:.6f} 1 44 0")
    return "\n".join(lines) + "\n"


def render_stk(
    notes: tuple[Note, ...] | list[Note],
    voice: StkVoice,
    expression: StkExpression,
    duration: float,
    sample_rate: int,
) -> np.ndarray:
    """Play ``notes`` on an STK ``voice`` and return ``duration`` seconds of dry mono audio.

    Returns:
        float32 ``(1, round(duration * sample_rate))``, not normalised.

    Raises:
        FileNotFoundError: ``stk-demo`` or ``faketime`` is not installed (names the package).
        RuntimeError: ``stk-demo`` failed or wrote no samples (with its last output lines).
    """
    program = stk_demo()
    if program is None:
        raise FileNotFoundError(
            f"stk-demo: not found on PATH (Debian package {STK_PACKAGE}; or set AVPC_STK_DEMO)"
        )
    rate = synth_rate(sample_rate)
    score = skini_score(notes, voice, expression, duration)
    with tempfile.TemporaryDirectory(prefix="avpc-stk-") as folder:
        score_path, out_path = Path(folder) / "score.ski", Path(folder) / "clip.mat"
        score_path.write_text(score, encoding="ascii")
        command = [*_frozen_clock(), str(program), voice.model, "-s", str(rate)]
        command += ["-n", str(voice.polyphony), "-if", str(score_path), "-om", str(out_path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0 or not out_path.is_file():
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
            raise RuntimeError(f"stk-demo {voice.model}: exit {result.returncode}: {tail}")
        samples = np.asarray(loadmat(str(out_path))["clip"], dtype=np.float64).reshape(1, -1)
    return resample(_GAIN * samples, rate, sample_rate, round(duration * sample_rate))


def measure_tuning(
    voice: StkVoice, pitches: list[int], sample_rate: int = 22050
) -> list[tuple[int, float]]:
    """How many cents sharp ``voice`` plays each of ``pitches`` (after its tuning table), with
    its controls at their middle values: a 1 s note, measured over 0.3..0.8 s (struck and
    plucked voices over 0.05..0.3 s). Used to write and check :attr:`StkVoice.tuning`."""
    middle = StkExpression(
        {c.number: (c.choices[0] if c.choices else (c.low + c.high) / 2) for c in voice.controls}
    )
    window = (0.05, 0.3) if voice.polyphony > 1 else (0.3, 0.8)
    result = []
    for pitch in pitches:
        audio = render_stk([Note(0.0, 1.0, pitch, 100)], voice, middle, 1.0, sample_rate)[0]
        segment = audio[round(window[0] * sample_rate) : round(window[1] * sample_rate)]
        result.append((pitch, cents(estimate_f0(segment, sample_rate), pitch)))
    return result
