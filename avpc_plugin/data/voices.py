"""Sound families of the corpus and how a clip draws its voice.

A family is a way of making an instrument's sound: ``"soundfont"`` (sampled General MIDI
instruments played by FluidSynth, :mod:`avpc_plugin.data.render`), ``"stk"`` (physical models,
:mod:`avpc_plugin.data.stk`) and ``"additive"`` (randomised spectral templates,
:mod:`avpc_plugin.data.additive`). Every family's voice is a :class:`Voice`: it plays a note
list for a number of seconds through a room and returns ``(channels, samples)`` float32.

Only the train split mixes families; the val split always plays its own soundfont, so the
held-out measure keeps sounds the model never heard. A train clip draws its family (and the
STK voice or additive template and their expression) from a generator spawned off the clip's
(see :func:`draw_voice`), so the clip's melody, picture, room and camera are the same whatever
family plays it. A family that has nothing for the class, or no voice whose range holds the
phrase, gives way to the soundfont.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from avpc_plugin.data.additive import TEMPLATES, AdditiveVoice, render_additive
from avpc_plugin.data.instruments import Instrument
from avpc_plugin.data.melodies import Note
from avpc_plugin.data.render import SoundfontRenderer, Split
from avpc_plugin.data.room import RoomSettings, apply_room
from avpc_plugin.data.stk import STK_VOICES, StkExpression, StkVoice, render_stk, stk_demo

Family = Literal["soundfont", "stk", "additive"]
FAMILIES: tuple[Family, ...] = ("soundfont", "stk", "additive")
"""Every sound family, in the order a clip's draw indexes them."""


class Voice(Protocol):
    """One clip's sound source."""

    @property
    def family(self) -> Family:
        """The family this voice belongs to."""
        ...

    @property
    def name(self) -> str:
        """What played, as the corpus index records it (``"FluidR3_GM.sf2"``, ``"stk:Bowed"``,
        ``"additive:clarinet"``)."""
        ...

    def render(
        self, notes: tuple[Note, ...], duration: float, room: RoomSettings | None
    ) -> np.ndarray:
        """float32 ``(channels, round(duration * sample_rate))``, not normalised."""
        ...


@dataclass(frozen=True)
class SoundfontVoice:
    """A GM ``program`` on a soundfont, with the modulation wheel at ``vibrato`` (0..127)."""

    soundfont: Path
    program: int
    vibrato: int
    sample_rate: int
    stereo: bool
    family: Family = "soundfont"

    @property
    def name(self) -> str:
        return self.soundfont.name

    def render(
        self, notes: tuple[Note, ...], duration: float, room: RoomSettings | None
    ) -> np.ndarray:
        renderer = soundfont_renderer(self.soundfont, self.sample_rate, self.stereo)
        return renderer.render(notes, self.program, duration, self.vibrato, room)


@dataclass(frozen=True)
class StkVoiceChoice:
    """An STK voice and one clip's control values."""

    voice: StkVoice
    expression: StkExpression
    sample_rate: int
    stereo: bool
    family: Family = "stk"

    @property
    def name(self) -> str:
        return f"stk:{self.voice.model}"

    def render(
        self, notes: tuple[Note, ...], duration: float, room: RoomSettings | None
    ) -> np.ndarray:
        audio = render_stk(notes, self.voice, self.expression, duration, self.sample_rate)
        return _finish(audio, self.sample_rate, self.stereo, room)


@dataclass(frozen=True)
class AdditiveVoiceChoice:
    """An additive template drawn for one clip."""

    instrument: str
    voice: AdditiveVoice
    sample_rate: int
    stereo: bool
    family: Family = "additive"

    @property
    def name(self) -> str:
        return f"additive:{self.instrument}"

    def render(
        self, notes: tuple[Note, ...], duration: float, room: RoomSettings | None
    ) -> np.ndarray:
        audio = render_additive(notes, self.voice, duration, self.sample_rate)
        return _finish(audio, self.sample_rate, self.stereo, room)


def _finish(
    audio: np.ndarray, sample_rate: int, stereo: bool, room: RoomSettings | None
) -> np.ndarray:
    """A mono render made stereo if asked, then heard through ``room``."""
    if stereo:
        audio = np.repeat(audio, 2, axis=0)
    return audio if room is None else apply_room(audio, sample_rate, room)


def available_families(split: Split, wanted: tuple[str, ...]) -> tuple[Family, ...]:
    """The families of ``wanted`` a ``split`` clip may draw here: the val split only
    ``"soundfont"``; ``"stk"`` only where ``stk-demo`` is installed.

    Raises:
        ValueError: ``wanted`` names an unknown family or does not hold ``"soundfont"`` (the
            family every other one falls back to).
    """
    unknown = [name for name in wanted if name not in FAMILIES]
    if unknown or "soundfont" not in wanted:
        raise ValueError(
            f"families: expected some of {', '.join(FAMILIES)} including soundfont, got "
            f"{', '.join(wanted) or 'none'}"
        )
    if split == "val":
        return ("soundfont",)
    return tuple(f for f in FAMILIES if f in wanted and (f != "stk" or stk_demo() is not None))


def draw_voice(
    instrument: Instrument,
    phrase: tuple[int, int],
    families: tuple[Family, ...],
    soundfont: SoundfontVoice,
    rng: np.random.Generator,
) -> Voice:
    """The voice a clip of ``instrument`` plays its ``phrase`` (lowest, highest MIDI note) with.

    With one family, ``soundfont`` and no draw. Otherwise a generator spawned off ``rng``
    draws the family uniformly, then the STK voice among those whose range holds the phrase
    (or the additive template) and its per-clip expression; a family with nothing that plays
    the phrase gives ``soundfont``. ``rng``'s own stream is left as it was.
    """
    if families == ("soundfont",):
        return soundfont
    (choice,) = rng.spawn(1)
    family = families[int(choice.integers(len(families)))]
    rate, stereo = soundfont.sample_rate, soundfont.stereo
    if family == "stk":
        voices = [v for v in STK_VOICES.get(instrument.name, ()) if v.plays(*phrase)]
        if voices:
            voice = voices[int(choice.integers(len(voices)))]
            return StkVoiceChoice(voice, StkExpression.random(voice, choice), rate, stereo)
    if family == "additive" and instrument.name in TEMPLATES:
        drawn = TEMPLATES[instrument.name].draw(choice)
        return AdditiveVoiceChoice(instrument.name, drawn, rate, stereo)
    return soundfont


_RENDERERS: dict[tuple[Path, int, bool], SoundfontRenderer] = {}


def soundfont_renderer(soundfont: Path, sample_rate: int, stereo: bool) -> SoundfontRenderer:
    """One renderer per soundfont and format per process (opening one costs ~50 ms)."""
    key = (soundfont, sample_rate, stereo)
    if key not in _RENDERERS:
        _RENDERERS[key] = SoundfontRenderer(soundfont, sample_rate, stereo)
    return _RENDERERS[key]
