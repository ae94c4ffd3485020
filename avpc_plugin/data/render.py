"""Render performances with sampled instruments from General MIDI soundfonts (FluidSynth).

FluidSynth (Debian ``libfluidsynth3``, driven through the ``pyfluidsynth`` ctypes binding) plays
SF2 and SF3 soundfonts with their full modulator and envelope model and loads samples lazily, so a
120 MB soundfont opens in milliseconds and a six-second solo renders in a few milliseconds. Its own
reverb and chorus are off: the room is added afterwards with pedalboard, varied per clip.

Rendering runs at twice the model rate (or at the requested rate when that is already 22.05 kHz
or more) and is resampled down with a polyphase anti-aliasing filter, because a sampler playing
directly at 11025 Hz folds the partials of high notes back into the band.

Soundfonts are split between training and validation (no sampled instrument is shared): train uses
``FluidR3_GM.sf2`` (Debian ``fluid-soundfont-gm``) and ``MuseScore_General*.sf3``
(``musescore-general-soundfont``); val uses ``TimGM6mb.sf2`` (``timgm6mb-soundfont``). A corpus
may add soundfonts of its own (:func:`check_extra_soundfonts`); none may be a val soundfont or
one known to share its samples (``SHARES_VAL_SAMPLES``).
"""

from __future__ import annotations

import functools
import os
from ctypes import c_int, c_void_p
from pathlib import Path
from typing import Any, Literal

import numpy as np

from avpc_plugin.data.melodies import Note
from avpc_plugin.data.rates import resample, synth_rate
from avpc_plugin.data.room import RoomSettings, apply_room

Split = Literal["train", "val"]

SOUNDFONT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("FluidR3_GM.sf2", "MuseScore_General_Full.sf3", "MuseScore_General.sf3"),
    "val": ("TimGM6mb.sf2",),
}
"""Soundfont file names each split may use; no name appears in two splits."""

SOUNDFONT_PACKAGES: dict[str, str] = {
    "train": "fluid-soundfont-gm, musescore-general-soundfont",
    "val": "timgm6mb-soundfont",
}
"""The Debian packages that install each split's soundfonts."""

SHARES_VAL_SAMPLES: tuple[str, ...] = ("sf_GMbank.sf2",)
"""Soundfonts that a train corpus may not add: they hold some of the val soundfont's samples
(Debian ``csound-soundfont``'s bank plays clarinet, erhu, tuba and xylophone with TimGM6mb's)."""

SOUNDFONT_DIRS: tuple[str, ...] = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3")
"""Where Debian's soundfont packages install; ``AVPC_SOUNDFONT_DIRS`` (os.pathsep-separated) is
searched first."""

_RENDER_GAIN = 0.4


def find_soundfonts(split: Split, search_dirs: tuple[str, ...] | None = None) -> list[Path]:
    """The installed soundfonts of ``split``, one per distinct file (symlinked duplicates removed).

    Raises:
        FileNotFoundError: none is installed; the message names the files and Debian packages.
    """
    if split not in SOUNDFONT_FILES:
        raise ValueError(f"split: expected one of {', '.join(SOUNDFONT_FILES)}, got {split!r}")
    if search_dirs is None:
        env = os.environ.get("AVPC_SOUNDFONT_DIRS", "")
        search_dirs = tuple(d for d in env.split(os.pathsep) if d) + SOUNDFONT_DIRS
    found: dict[Path, Path] = {}
    for name in SOUNDFONT_FILES[split]:
        for folder in search_dirs:
            path = Path(folder) / name
            if path.is_file():
                found.setdefault(path.resolve(), path)
                break
    if not found:
        raise FileNotFoundError(
            f"no {split} soundfont found: looked for {', '.join(SOUNDFONT_FILES[split])} in "
            f"{', '.join(search_dirs)} (Debian packages: {SOUNDFONT_PACKAGES[split]})"
        )
    return list(found.values())


def check_extra_soundfonts(split: Split, files: tuple[Path, ...]) -> None:
    """Check soundfont files a corpus of ``split`` adds to the split's own.

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: a file is not ``.sf2`` / ``.sf3``, or it is (or shares samples with) a
            soundfont of the other split, which would leak one split's sounds into the other.
    """
    other = "val" if split == "train" else "train"
    refused = {*SOUNDFONT_FILES[other], *(SHARES_VAL_SAMPLES if split == "train" else ())}
    for path in map(Path, files):
        if not path.is_file():
            raise FileNotFoundError(f"soundfont: no file at {path}")
        if path.suffix.lower() not in (".sf2", ".sf3"):
            raise ValueError(f"soundfont: {path}: expected an .sf2 or .sf3 file")
        if {path.name, path.resolve().name} & refused:
            raise ValueError(
                f"soundfont: {path} is (or shares samples with) a soundfont of the {other} "
                f"split; a {split} corpus may not use it"
            )


class SoundfontRenderer:
    """Plays notes on one soundfont with FluidSynth and returns float waveforms.

    The soundfont is loaded once (its samples decoded into memory: about 0.2 s for
    ``FluidR3_GM.sf2``, 8 s and 600 MB for the Vorbis-compressed MuseScore SF3) by an owner
    synthesizer; every :meth:`render` plays on a fresh synthesizer that borrows it, so a render
    never depends on what was rendered before (FluidSynth voices keep filter and timing state).

    Args:
        soundfont: path to an ``.sf2`` or ``.sf3`` file.
        sample_rate: output rate in Hz (e.g. 11025 for the model, 44100 for full-rate tests).
        stereo: return ``(2, samples)`` instead of ``(1, samples)``.
    """

    def __init__(self, soundfont: str | Path, sample_rate: int, stereo: bool = False) -> None:
        self.synth_rate = synth_rate(sample_rate)  # raises on a rate under 8 kHz
        self.soundfont = Path(soundfont)
        if not self.soundfont.is_file():
            raise FileNotFoundError(f"soundfont: no such file {self.soundfont}")
        self.sample_rate = sample_rate
        self.stereo = stereo
        self._api = _fluidsynth_api()
        self._owner: Any = self._new_synth()
        sfid = self._owner.sfload(str(self.soundfont))
        if sfid < 0:
            raise ValueError(f"soundfont: FluidSynth could not load {self.soundfont}")
        self._sfont = self._api["get_sfont_by_id"](self._owner.synth, sfid)

    def _new_synth(self) -> Any:
        import fluidsynth  # deferred: libfluidsynth (data extra) only renders notes

        return fluidsynth.Synth(
            gain=_RENDER_GAIN,
            samplerate=float(self.synth_rate),
            channels=16,
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.cpu-cores": 1},
        )

    def close(self) -> None:
        """Free the soundfont and its synthesizer."""
        if self._owner is not None:
            self._owner.delete()
            self._owner = None

    def __enter__(self) -> SoundfontRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(
        self,
        notes: tuple[Note, ...] | list[Note],
        program: int,
        duration: float,
        vibrato: int = 0,
        room: RoomSettings | None = None,
    ) -> np.ndarray:
        """Play ``notes`` with GM ``program`` and return ``duration`` seconds of audio.

        Args:
            notes: what to play (seconds, MIDI pitch, velocity).
            program: 0-based General MIDI program (bank 0).
            duration: output length in seconds; notes still sounding are cut.
            vibrato: modulation wheel (MIDI CC 1) value 0..127.
            room: pedalboard reverb to apply, or ``None`` for the dry sound.

        Returns:
            float32 ``(channels, round(duration * sample_rate))``, channels 1 or 2, not normalised.
        """
        if self._owner is None:
            raise RuntimeError("render: the renderer is closed")
        rate = self.synth_rate
        synth = self._new_synth()
        try:
            self._api["add_sfont"](synth.synth, self._sfont)
            sfid = self._api["sfont_get_id"](self._sfont)
            if synth.program_select(0, sfid, 0, program) != 0:
                raise ValueError(f"program: {self.soundfont.name} has no bank-0 preset {program}")
            synth.cc(0, 1, int(np.clip(vibrato, 0, 127)))
            events: list[tuple[int, int, int, int]] = []  # (sample, on?, pitch, velocity)
            for note in notes:
                events.append((round(note.start * rate), 1, note.pitch, note.velocity))
                events.append((round((note.start + note.duration) * rate), 0, note.pitch, 0))
            events.sort()  # at equal times note-offs come first, so repeated notes re-strike
            total = round(duration * rate)
            out = np.zeros((total, 2), dtype=np.float32)
            cursor = 0
            for sample, _, pitch, velocity in events:
                if sample >= total:
                    break
                cursor = self._write(synth, out, cursor, sample)
                if velocity > 0:
                    synth.noteon(0, pitch, velocity)
                else:
                    synth.noteoff(0, pitch)
            self._write(synth, out, cursor, total)
        finally:
            self._api["remove_sfont"](synth.synth, self._sfont)  # borrowed: not freed here
            synth.delete()
        audio = out.T if self.stereo else out.mean(axis=1, keepdims=True).T
        if room is not None:
            audio = apply_room(audio, rate, room)
        return resample(audio, rate, self.sample_rate, round(duration * self.sample_rate))

    def _write(self, synth: Any, out: np.ndarray, start: int, stop: int) -> int:
        """Synthesize frames ``start:stop`` into the interleaved ``(frames, 2)`` buffer ``out``."""
        if stop > start:
            frame = out[start:stop]
            address = frame.ctypes.data
            self._api["write_float"](synth.synth, stop - start, address, 0, 2, address, 1, 2)
        return max(start, stop)


@functools.lru_cache(maxsize=1)
def _fluidsynth_api() -> dict[str, Any]:
    """The libfluidsynth calls pyfluidsynth does not wrap, declared once; warnings silenced."""
    import fluidsynth  # deferred: libfluidsynth (data extra), only corpus generation needs it

    api = {
        "write_float": fluidsynth.cfunc(
            "fluid_synth_write_float",
            c_int,
            ("synth", c_void_p, 1),
            ("len", c_int, 1),
            ("lout", c_void_p, 1),
            ("loff", c_int, 1),
            ("lincr", c_int, 1),
            ("rout", c_void_p, 1),
            ("roff", c_int, 1),
            ("rincr", c_int, 1),
        ),
        "get_sfont_by_id": fluidsynth.cfunc(
            "fluid_synth_get_sfont_by_id", c_void_p, ("synth", c_void_p, 1), ("id", c_int, 1)
        ),
        "add_sfont": fluidsynth.cfunc(
            "fluid_synth_add_sfont", c_int, ("synth", c_void_p, 1), ("sfont", c_void_p, 1)
        ),
        "remove_sfont": fluidsynth.cfunc(
            "fluid_synth_remove_sfont", c_int, ("synth", c_void_p, 1), ("sfont", c_void_p, 1)
        ),
        "sfont_get_id": fluidsynth.cfunc("fluid_sfont_get_id", c_int, ("sfont", c_void_p, 1)),
    }
    set_log = fluidsynth.cfunc(
        "fluid_set_log_function",
        c_void_p,
        ("level", c_int, 1),
        ("fun", c_void_p, 1),
        ("data", c_void_p, 1),
    )
    set_log(2, None, None)  # FLUID_WARN: "no preset on channel N" while a fresh synth is empty
    return api
