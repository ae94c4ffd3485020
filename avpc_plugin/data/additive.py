"""Additive synthesis family: harmonic (or tuned-bar) partials under per-instrument spectral
envelopes, randomised per clip, with ADSR, vibrato, legato glides and breath or bow noise.

Each class has a template (:data:`TEMPLATES`) that describes what makes it recognisable
(formant-like resonances in Hz, a spectral slope in dB per octave, the clarinet's weak even
harmonics below about 1.5 kHz, a plucked string's comb from its pluck point, the xylophone's
bar partials at 1 : 3 : 6.2 : 10.2 ...), and :meth:`AdditiveTemplate.draw` turns it into one
clip's voice by moving every resonance, slope and time within a plausible spread, so no two
clips share a spectrum. Pure numpy: per note, the partials are one ``(partials, samples)``
matrix, the noise is shaped in the frequency domain, and nothing loops over samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avpc_plugin.data.melodies import Note
from avpc_plugin.data.rates import resample, synth_rate

Formant = tuple[float, float, float]
"""A resonance: centre in Hz, width in octaves (Gaussian sigma on a log axis), gain in dB."""


@dataclass(frozen=True)
class AdditiveTemplate:
    """What one class's additive voice is made of; ranges ``(low, high)`` are drawn per clip.

    Attributes:
        formants: resonances of the body or bore, see :data:`Formant`.
        slope: spectral slope, dB per octave of harmonic number (negative: darker).
        even: gain of the even harmonics in dB below ``even_until`` Hz (clarinet: about -25).
        even_until: Hz up to which ``even`` applies.
        ratios: partial frequency ratios; empty for harmonics 1, 2, 3, ...
        attack, decay, release: seconds; ``sustain`` a level in 0..1 (decaying classes: 0).
        ring: seconds for a decaying note to fall by 60 dB at 220 Hz (shorter up high).
        damping: extra decay of higher partials (per partial number, relative).
        pluck: pluck point as a share of the string (comb on the harmonics); 0 for none.
        vibrato_cents, vibrato_hz: vibrato depth and rate.
        noise_db: breath / bow / stick noise level relative to the partials, dB.
        noise_hz: centre of the noise band in Hz (a one-octave-wide band).
        glide: seconds of a legato slide from the previous pitch (0: none).
        detune_cents: a second, detuned copy (accordion reeds' beating); 0 for none.
        brassy: how much louder playing brightens the spectrum, dB per octave at full velocity.
    """

    formants: tuple[Formant, ...]
    slope: tuple[float, float]
    even: tuple[float, float] = (0.0, 0.0)
    even_until: float = 20000.0
    ratios: tuple[float, ...] = ()
    attack: tuple[float, float] = (0.02, 0.06)
    decay: tuple[float, float] = (0.05, 0.15)
    sustain: tuple[float, float] = (0.7, 0.9)
    release: tuple[float, float] = (0.05, 0.15)
    ring: tuple[float, float] = (0.0, 0.0)
    damping: tuple[float, float] = (0.0, 0.0)
    pluck: tuple[float, float] = (0.0, 0.0)
    vibrato_cents: tuple[float, float] = (0.0, 0.0)
    vibrato_hz: tuple[float, float] = (4.5, 6.5)
    noise_db: tuple[float, float] = (-60.0, -50.0)
    noise_hz: tuple[float, float] = (2000.0, 4000.0)
    glide: tuple[float, float] = (0.0, 0.0)
    detune_cents: tuple[float, float] = (0.0, 0.0)
    brassy: float = 0.0

    def draw(self, rng: np.random.Generator) -> AdditiveVoice:
        """One clip's voice: every range drawn, every resonance moved by up to ~20 % and
        +-3 dB."""

        def pick(span: tuple[float, float]) -> float:
            return float(rng.uniform(*span))

        formants = tuple(
            (
                f * float(rng.uniform(0.82, 1.2)),
                w * float(rng.uniform(0.8, 1.25)),
                g + pick((-3, 3)),
            )
            for f, w, g in self.formants
        )
        return AdditiveVoice(
            formants=formants,
            slope=pick(self.slope),
            even=pick(self.even),
            even_until=self.even_until * float(rng.uniform(0.8, 1.25)),
            ratios=self.ratios,
            attack=pick(self.attack),
            decay=pick(self.decay),
            sustain=pick(self.sustain),
            release=pick(self.release),
            ring=pick(self.ring),
            damping=pick(self.damping),
            pluck=pick(self.pluck),
            vibrato_cents=pick(self.vibrato_cents),
            vibrato_hz=pick(self.vibrato_hz),
            noise_db=pick(self.noise_db),
            noise_hz=pick(self.noise_hz),
            glide=pick(self.glide),
            detune_cents=pick(self.detune_cents),
            brassy=self.brassy * float(rng.uniform(0.6, 1.4)),
            seed=int(rng.integers(2**31)),
        )


@dataclass(frozen=True)
class AdditiveVoice:
    """A template drawn for one clip (the fields of :class:`AdditiveTemplate` as numbers) and
    the seed of its noise."""

    formants: tuple[Formant, ...]
    slope: float
    even: float
    even_until: float
    ratios: tuple[float, ...]
    attack: float
    decay: float
    sustain: float
    release: float
    ring: float
    damping: float
    pluck: float
    vibrato_cents: float
    vibrato_hz: float
    noise_db: float
    noise_hz: float
    glide: float
    detune_cents: float
    brassy: float
    seed: int

    def partial_gains(self, f0: float, velocity: int, nyquist: float) -> tuple[np.ndarray, ...]:
        """Frequency ratios and linear gains of the partials of a note at ``f0`` Hz (those
        below 0.9 x ``nyquist``), the loudest 1."""
        ratios = np.asarray(self.ratios or np.arange(1, 81), dtype=np.float64)
        ratios = ratios[ratios * f0 < 0.9 * nyquist]
        freqs = ratios * f0
        octaves = np.log2(ratios)
        gain = (self.slope + self.brassy * (velocity / 127.0 - 0.5)) * octaves
        for centre, width, level in self.formants:
            gain += level * np.exp(-0.5 * (np.log2(freqs / centre) / width) ** 2)
        if not self.ratios:
            harmonic = np.arange(1, ratios.size + 1)
            gain += np.where((harmonic % 2 == 0) & (freqs < self.even_until), self.even, 0.0)
            if self.pluck > 0:
                comb = np.abs(np.sin(np.pi * harmonic * self.pluck))
                gain += 20.0 * np.log10(np.maximum(comb, 1e-3))
        linear = 10.0 ** ((gain - gain.max()) / 20.0)
        return ratios, linear


TEMPLATES: dict[str, AdditiveTemplate] = {
    "accordion": AdditiveTemplate(
        formants=((1400.0, 0.6, 8.0), (3000.0, 0.5, 4.0)),
        slope=(-4.0, -2.0),
        attack=(0.02, 0.05),
        sustain=(0.85, 1.0),
        noise_db=(-50.0, -38.0),
        noise_hz=(1500.0, 3000.0),
        detune_cents=(6.0, 18.0),
    ),
    "acoustic_guitar": AdditiveTemplate(
        formants=((110.0, 0.4, 10.0), (220.0, 0.4, 6.0), (2500.0, 0.7, 4.0)),
        slope=(-5.0, -3.0),
        attack=(0.002, 0.006),
        decay=(0.0, 0.0),
        sustain=(0.0, 0.0),
        release=(0.05, 0.12),
        ring=(2.5, 4.5),
        damping=(0.04, 0.1),
        pluck=(0.08, 0.22),
        noise_db=(-40.0, -30.0),
        noise_hz=(1500.0, 4000.0),
    ),
    "cello": AdditiveTemplate(
        formants=((250.0, 0.5, 8.0), (700.0, 0.4, 4.0), (2000.0, 0.5, 5.0)),
        slope=(-6.5, -4.5),
        attack=(0.06, 0.15),
        release=(0.08, 0.2),
        vibrato_cents=(8.0, 22.0),
        vibrato_hz=(4.5, 6.0),
        noise_db=(-42.0, -32.0),
        noise_hz=(1500.0, 3500.0),
        glide=(0.0, 0.04),
    ),
    "clarinet": AdditiveTemplate(
        formants=((1500.0, 0.6, 3.0),),
        slope=(-9.0, -6.0),
        even=(-32.0, -20.0),
        even_until=1800.0,
        attack=(0.03, 0.07),
        sustain=(0.8, 0.95),
        vibrato_cents=(0.0, 4.0),
        noise_db=(-46.0, -36.0),
        noise_hz=(2000.0, 5000.0),
    ),
    "erhu": AdditiveTemplate(
        formants=((900.0, 0.35, 10.0), (2400.0, 0.4, 6.0)),
        slope=(-6.0, -4.0),
        attack=(0.05, 0.12),
        vibrato_cents=(20.0, 45.0),
        vibrato_hz=(5.0, 7.0),
        noise_db=(-38.0, -30.0),
        noise_hz=(2000.0, 4500.0),
        glide=(0.05, 0.14),
    ),
    "flute": AdditiveTemplate(
        formants=((800.0, 1.0, 2.0),),
        slope=(-16.0, -11.0),
        attack=(0.04, 0.1),
        sustain=(0.75, 0.95),
        vibrato_cents=(6.0, 18.0),
        vibrato_hz=(4.5, 6.0),
        noise_db=(-30.0, -22.0),
        noise_hz=(2500.0, 6000.0),
    ),
    "saxophone": AdditiveTemplate(
        formants=((600.0, 0.45, 8.0), (1900.0, 0.45, 6.0)),
        slope=(-5.0, -3.0),
        attack=(0.03, 0.07),
        vibrato_cents=(5.0, 20.0),
        noise_db=(-40.0, -30.0),
        noise_hz=(2000.0, 5000.0),
        glide=(0.0, 0.03),
    ),
    "trumpet": AdditiveTemplate(
        formants=((1300.0, 0.5, 9.0), (2800.0, 0.5, 3.0)),
        slope=(-5.0, -3.0),
        attack=(0.03, 0.06),
        vibrato_cents=(0.0, 8.0),
        noise_db=(-50.0, -40.0),
        brassy=8.0,
    ),
    "tuba": AdditiveTemplate(
        formants=((230.0, 0.5, 10.0), (600.0, 0.5, 3.0)),
        slope=(-9.0, -6.0),
        attack=(0.05, 0.1),
        vibrato_cents=(0.0, 6.0),
        noise_db=(-52.0, -42.0),
        noise_hz=(600.0, 1500.0),
        brassy=6.0,
    ),
    "violin": AdditiveTemplate(
        formants=((290.0, 0.4, 5.0), (3000.0, 0.4, 8.0), (1200.0, 0.4, 3.0)),
        slope=(-5.5, -3.5),
        attack=(0.05, 0.12),
        release=(0.08, 0.2),
        vibrato_cents=(12.0, 30.0),
        vibrato_hz=(5.0, 6.8),
        noise_db=(-42.0, -32.0),
        noise_hz=(2500.0, 5000.0),
        glide=(0.0, 0.05),
    ),
    "xylophone": AdditiveTemplate(
        formants=((1000.0, 1.5, 0.0),),
        slope=(-4.0, -1.0),
        ratios=(1.0, 3.0, 6.17, 10.2),
        attack=(0.001, 0.003),
        decay=(0.0, 0.0),
        sustain=(0.0, 0.0),
        release=(0.05, 0.1),
        ring=(0.5, 1.1),
        damping=(0.5, 1.0),
        noise_db=(-30.0, -20.0),
        noise_hz=(2000.0, 5000.0),
    ),
}
"""One additive template per class (all 11 have one)."""


def render_additive(
    notes: tuple[Note, ...] | list[Note], voice: AdditiveVoice, duration: float, sample_rate: int
) -> np.ndarray:
    """Play ``notes`` with an additive ``voice``; returns float32 ``(1, round(duration *
    sample_rate))``, dry and not normalised. Deterministic for a voice (its noise is seeded)."""
    rate = synth_rate(sample_rate)
    total = round(duration * rate)
    out = np.zeros(total, dtype=np.float64)
    rng = np.random.default_rng(voice.seed)
    decaying = voice.ring > 0
    previous: Note | None = None
    for note in sorted(notes, key=lambda n: n.start):
        start = round(note.start * rate)
        if start >= total:
            break
        legato = (
            previous is not None
            and not decaying
            and note.start <= previous.start + previous.duration + 0.01
        )
        source = previous.pitch if legato and previous is not None else note.pitch
        sound = _note(note, source, legato, voice, rate, rng)
        stop = min(total, start + sound.size)
        out[start:stop] += sound[: stop - start]
        previous = note
    return resample(out[None, :], rate, sample_rate, round(duration * sample_rate))


def _note(
    note: Note,
    source: int,
    legato: bool,
    voice: AdditiveVoice,
    rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One note's samples ``(n,)``: partials times envelope, plus shaped noise."""
    f0 = 440.0 * 2.0 ** ((note.pitch - 69) / 12.0)
    decaying = voice.ring > 0
    ring = voice.ring * (220.0 / f0) ** 0.5 if decaying else 0.0
    length = note.duration + voice.release
    if decaying:
        length = min(note.duration, 1.5 * ring) + voice.release
    n = max(round(length * rate), 16)
    t = np.arange(n) / rate
    # pitch: legato glide from the previous note, then vibrato fading in over 0.3 s
    cents = np.zeros(n)
    if legato and voice.glide > 0 and source != note.pitch:
        cents = 100.0 * (source - note.pitch) * np.clip(1.0 - t / voice.glide, 0.0, 1.0)
    depth = voice.vibrato_cents * np.clip(t / 0.3, 0.0, 1.0)
    cents = cents + depth * np.sin(2 * np.pi * voice.vibrato_hz * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0 * 2.0 ** (cents / 1200.0)) / rate
    ratios, gains = voice.partial_gains(f0, note.velocity, rate / 2)
    offsets = rng.uniform(0, 2 * np.pi, ratios.size)
    partials = np.sin(ratios[:, None] * phase[None, :] + offsets[:, None])
    if decaying:  # each partial rings down; higher ones faster
        rates = 6.91 / ring * (1.0 + voice.damping * (ratios - 1.0))
        partials *= np.exp(-rates[:, None] * t[None, :])
    tone = gains @ partials
    if voice.detune_cents:
        tone = 0.5 * (
            tone
            + gains
            @ np.sin(ratios[:, None] * phase[None, :] * 2.0 ** (voice.detune_cents / 1200.0))
        )
    envelope = _envelope(
        t, note.duration if not decaying else length - voice.release, voice, legato
    )
    noise = _noise(n, voice.noise_hz, rate, rng)
    level = 10.0 ** (voice.noise_db / 20.0) * float(np.sqrt(np.mean(tone**2)) + 1e-9)
    if decaying:  # a pluck or a stick: the noise is a short burst
        burst = np.exp(-t / 0.01)
        sound = tone * envelope + 10 * level * noise * burst
    else:
        sound = (tone + level * noise) * envelope
    return (note.velocity / 127.0) ** 1.5 * sound


def _envelope(t: np.ndarray, held: float, voice: AdditiveVoice, legato: bool) -> np.ndarray:
    """ADSR over ``t`` seconds for a note held ``held`` seconds (a legato note: short attack)."""
    attack = 0.015 if legato else voice.attack
    points_t = [0.0, attack, attack + voice.decay, max(held, attack + voice.decay + 1e-3)]
    level = voice.sustain if voice.sustain > 0 else 1.0
    points_v = [0.0, 1.0, level, level]
    points_t.append(points_t[-1] + voice.release)
    points_v.append(0.0)
    return np.interp(t, points_t, points_v)


def _noise(n: int, centre: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise ``(n,)`` in a one-octave band around ``centre`` Hz, shaped by FFT."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    shape = np.exp(-0.5 * (np.log2(np.maximum(freqs, 1.0) / centre) / 0.5) ** 2)
    noise = np.fft.irfft(spectrum * shape, n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)
