"""Sound families of the corpus: STK physical models, additive templates, rooms and mics.

What these tests prove, and what they do not: every family plays the requested pitch (a YIN
estimate within 12 cents for the additive family, 25 for the STK winds and plucked strings,
within 60 cents for STK's bowed string, whose pitch moves with bow pressure and vibrato), the
clarinet's odd-harmonic spectrum survives in both synthetic families, and a nearest-centroid
check over crude cepstral features finds each family's renders nearer to their own class's
soundfont renders than to the other classes' more often than not. That check compares spectra
of whole 2 s phrases, so part of what it tells apart is register (a tuba plays lower than a
flute), not timbre alone; it is a guard against a family that sounds like nothing in
particular, not a listening test.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest

from avpc_plugin.data.additive import TEMPLATES, render_additive
from avpc_plugin.data.instruments import INSTRUMENT_NAMES, INSTRUMENTS
from avpc_plugin.data.melodies import Note, generate_performance
from avpc_plugin.data.pitch import cents, estimate_f0
from avpc_plugin.data.render import SOUNDFONT_FILES, find_soundfonts
from avpc_plugin.data.room import RoomSettings, apply_room
from avpc_plugin.data.stk import STK_VOICES, StkExpression, render_stk, stk_demo

RATE = 11025
needs_stk = pytest.mark.skipif(
    stk_demo() is None, reason="stk-demo not installed (Debian package stk: make corpus-deps)"
)


def _val_soundfont() -> Path:
    try:
        return find_soundfonts("val")[0]
    except FileNotFoundError as error:
        pytest.skip(str(error))


def _segment(audio: np.ndarray, decaying: bool) -> np.ndarray:
    start, stop = (0.03, 0.25) if decaying else (0.3, 0.8)
    return audio[0, round(start * RATE) : round(stop * RATE)]


def test_additive_renders_every_class_deterministically_in_tune() -> None:
    for name in INSTRUMENT_NAMES:
        instrument = INSTRUMENTS[name]
        notes = generate_performance(instrument, 2.0, np.random.default_rng(3)).notes
        voice = TEMPLATES[name].draw(np.random.default_rng(4))
        audio = render_additive(notes, voice, 2.0, RATE)
        assert audio.shape == (1, 2 * RATE) and audio.dtype == np.float32, name
        assert np.isfinite(audio).all() and np.abs(audio).max() > 0, name
        again = render_additive(notes, TEMPLATES[name].draw(np.random.default_rng(4)), 2.0, RATE)
        assert np.array_equal(audio, again), name
        other = TEMPLATES[name].draw(np.random.default_rng(5))
        assert not np.array_equal(audio, render_additive(notes, other, 2.0, RATE)), name
        for pitch in (instrument.low + 3, (instrument.low + instrument.high) // 2):
            tone = render_additive([Note(0.0, 1.0, pitch, 100)], voice, 1.0, RATE)
            f0 = estimate_f0(_segment(tone, voice.ring > 0), RATE)
            assert abs(cents(f0, pitch)) < 12, (name, pitch, cents(f0, pitch))


@needs_stk
def test_stk_voices_render_deterministically_in_tune_over_their_range() -> None:
    for name, voices in STK_VOICES.items():
        for voice in voices:
            expression = StkExpression.random(voice, np.random.default_rng(1))
            notes = generate_performance(INSTRUMENTS[name], 2.0, np.random.default_rng(2)).notes
            audio = render_stk(notes, voice, expression, 2.0, RATE)
            assert audio.shape == (1, 2 * RATE) and np.isfinite(audio).all(), voice.model
            assert np.abs(audio).max() > 1e-3, voice.model
            assert np.array_equal(audio, render_stk(notes, voice, expression, 2.0, RATE))
            tolerance = 60 if voice.model == "Bowed" else 25
            decaying = voice.polyphony > 1
            for pitch in (voice.low + 1, (voice.low + voice.high) // 2, voice.high - 1):
                tone = render_stk([Note(0.0, 1.0, pitch, 100)], voice, expression, 1.0, RATE)
                off = cents(estimate_f0(_segment(tone, decaying), RATE), pitch)
                assert abs(off) < tolerance, (voice.model, pitch, off)


@needs_stk
def test_stk_renders_the_same_clip_a_second_later() -> None:
    # STK seeds its breath / reed noise from the clock: the renderer runs it on a fixed one
    voice = STK_VOICES["flute"][0]
    expression = StkExpression.random(voice, np.random.default_rng(1))
    notes = [Note(0.0, 0.5, 74, 100)]
    first = render_stk(notes, voice, expression, 0.5, RATE)
    time.sleep(1.1)
    assert np.array_equal(first, render_stk(notes, voice, expression, 0.5, RATE))


def _harmonic_db(audio: np.ndarray, f0: float, count: int = 6) -> np.ndarray:
    """Levels in dB of harmonics 1..count of a steady note."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    freqs = np.fft.rfftfreq(audio.size, 1.0 / RATE)
    levels = []
    for k in range(1, count + 1):
        band = np.abs(freqs - k * f0) < 0.3 * f0
        levels.append(20 * np.log10(spectrum[band].max() + 1e-12))
    return np.array(levels)


def _odd_over_even(audio: np.ndarray, pitch: int) -> float:
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    levels = _harmonic_db(_segment(audio, False), f0)
    return float(levels[[0, 2, 4]].mean() - levels[[1, 3, 5]].mean())


def test_clarinet_keeps_its_odd_harmonics_in_the_synthetic_families() -> None:
    note = [Note(0.0, 1.0, 55, 100)]  # G3, a chalumeau note: even harmonics weak below ~1.5 kHz
    for seed in range(4):
        clarinet = TEMPLATES["clarinet"].draw(np.random.default_rng(seed))
        saxophone = TEMPLATES["saxophone"].draw(np.random.default_rng(seed))
        assert _odd_over_even(render_additive(note, clarinet, 1.0, RATE), 55) > 10
        assert _odd_over_even(render_additive(note, saxophone, 1.0, RATE), 55) < 6
    if stk_demo() is not None:
        (voice,) = STK_VOICES["clarinet"]
        expression = StkExpression.random(voice, np.random.default_rng(0))
        assert _odd_over_even(render_stk(note, voice, expression, 1.0, RATE), 55) > 10


def _features(audio: np.ndarray) -> np.ndarray:
    """Crude MFCC-like features of a clip: the first 12 cepstral coefficients of the mean
    log spectrum over 24 log-spaced bands (100 Hz to 5 kHz), loudness removed."""
    frames = np.lib.stride_tricks.sliding_window_view(audio[0], 1024)[::256]
    power = (np.abs(np.fft.rfft(frames * np.hanning(1024), axis=-1)) ** 2).mean(axis=0)
    freqs = np.fft.rfftfreq(1024, 1.0 / RATE)
    edges = np.geomspace(100.0, 5000.0, 25)
    bands = np.array(
        [power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in itertools.pairwise(edges)]
    )
    log_bands = np.log(bands + 1e-10)
    cepstrum = np.real(np.fft.ifft(log_bands))[1:13]
    return cepstrum


def test_each_family_sounds_nearer_its_own_class_than_others() -> None:
    from avpc_plugin.data.render import SoundfontRenderer

    soundfont = _val_soundfont()
    seeds = range(3)
    phrases = {
        name: [generate_performance(INSTRUMENTS[name], 2.0, np.random.default_rng(s)).notes
               for s in seeds]
        for name in INSTRUMENT_NAMES
    }  # fmt: skip
    with SoundfontRenderer(soundfont, RATE) as renderer:
        centroids = np.stack([
            np.mean([_features(renderer.render(n, INSTRUMENTS[name].gm_program, 2.0))
                     for n in phrases[name]], axis=0)
            for name in INSTRUMENT_NAMES
        ])  # fmt: skip

    def accuracy(render: dict[str, object]) -> float:
        hits, total = 0, 0
        for name, make in render.items():
            for k, notes in enumerate(phrases[name]):
                audio = make(notes, k)  # type: ignore[operator]
                distances = np.linalg.norm(centroids - _features(audio), axis=1)
                hits += INSTRUMENT_NAMES[int(np.argmin(distances))] == name
                total += 1
        return hits / total

    additive = {
        name: (lambda notes, k, name=name: render_additive(
            notes, TEMPLATES[name].draw(np.random.default_rng(k)), 2.0, RATE))
        for name in INSTRUMENT_NAMES
    }  # fmt: skip
    print(f"nearest soundfont centroid is the own class: additive {accuracy(additive):.2f}")
    assert accuracy(additive) > 0.27  # chance: 1/11
    if stk_demo() is not None:
        stk = {
            name: (lambda notes, k, voices=voices: render_stk(
                notes, voices[k % len(voices)],
                StkExpression.random(voices[k % len(voices)], np.random.default_rng(k)),
                2.0, RATE))
            for name, voices in STK_VOICES.items()
        }  # fmt: skip
        print(f"stk (8 classes) {accuracy(stk):.2f}")
        assert accuracy(stk) > 0.27


def test_varied_rooms_are_deterministic_and_keep_the_shape() -> None:
    rng = np.random.default_rng(0)
    audio = np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)[None, :].astype(np.float32)
    rooms = [RoomSettings.random(np.random.default_rng(s), varied=True) for s in range(8)]
    assert {room.reverb for room in rooms} == {"freeverb", "impulse"}
    for room in rooms:
        out = apply_room(audio, RATE, room)
        assert out.shape == audio.shape and np.isfinite(out).all()
        assert np.array_equal(out, apply_room(audio, RATE, room))
    # A varied room draws its extras from a spawned generator: the caller's stream is unchanged.
    plain, varied = np.random.default_rng(7), np.random.default_rng(7)
    assert RoomSettings.random(plain) == RoomSettings.random(varied, varied=True).__class__(
        **{k: getattr(RoomSettings.random(np.random.default_rng(7)), k)
           for k in ("room_size", "damping", "wet_level", "width")}
    )  # fmt: skip
    assert plain.random() == varied.random()
    silent_room = RoomSettings(0.1, 0.5, 0.0, 1.0, noise_db=-40.0, seed=1)
    hiss = apply_room(np.zeros((1, RATE), np.float32) + 1e-3, RATE, silent_room)
    assert 0 < np.std(hiss) < 1e-4
    del rng


def test_train_clips_draw_families_and_keep_their_performances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A train corpus with several families plays the same melodies, pictures and rooms as one
    with soundfonts only; each record says which family and voice played; val ignores them."""
    from click.testing import CliRunner

    from avpc_plugin.cli import main
    from avpc_plugin.data.corpus import SynthConfig, synthesize_corpus

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / SOUNDFONT_FILES["train"][0]).symlink_to(_val_soundfont())
    monkeypatch.setenv("AVPC_SOUNDFONT_DIRS", str(fonts))
    monkeypatch.setattr("avpc_plugin.data.render.SOUNDFONT_DIRS", ())
    plain = SynthConfig(duration=1.0, size=32)
    mixed = SynthConfig(duration=1.0, size=32, families=("soundfont", "stk", "additive"))
    a = synthesize_corpus(tmp_path / "a", "train", clips=11, seed=3, config=plain, workers=1)
    b = synthesize_corpus(tmp_path / "b", "train", clips=11, seed=3, config=mixed, workers=1)
    same = ("instrument", "picture", "tempo", "key", "notes", "pitch_low", "pitch_high")
    for one, other in zip(a, b, strict=True):
        assert {k: getattr(one, k) for k in same} == {k: getattr(other, k) for k in same}
        assert other.family in ("soundfont", "stk", "additive")
        assert (other.soundfont != "") == (other.family == "soundfont")
        assert other.sound.startswith(other.family) or other.family == "soundfont"
    assert len({r.family for r in b}) >= 2
    args = ["data", "synth", "--out", str(tmp_path / "c"), "--split", "train", "--clips", "4"]
    args += ["--duration", "1", "--size", "32", "--workers", "1", "--family", "additive"]
    result = CliRunner().invoke(main, [*args, "--varied-rooms"])
    assert result.exit_code == 0, result.output
    assert "sound families: " in result.output
    monkeypatch.undo()
    val = synthesize_corpus(tmp_path / "v", "val", clips=3, seed=3, config=mixed, workers=1)
    assert {r.family for r in val} == {"soundfont"}
    with pytest.raises(ValueError, match="including soundfont"):
        SynthConfig(families=("stk",))
