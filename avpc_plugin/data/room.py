"""Rooms and microphones around a rendered performer: reverb, mic colour and a noise floor.

:class:`RoomSettings` is one clip's acoustics. :meth:`RoomSettings.random` draws pedalboard's
``Reverb`` (a Freeverb: room size, damping, wet level, width) from the clip's generator, as the
corpus always has; with ``varied=True`` it also draws, from a generator spawned off it (so the
clip's other draws stay what they were), one of two reverb kinds (the Freeverb, or a synthetic
impulse response: exponentially decaying noise, darker as it decays, after a few early
reflections), a microphone colour (high-pass, a tilt around 1 kHz and one presence or boxiness
resonance) and a noise floor (pink-ish hiss 35-70 dB below the signal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.signal import fftconvolve

ReverbKind = Literal["freeverb", "impulse"]


@dataclass(frozen=True)
class RoomSettings:
    """One clip's room and microphone.

    Attributes:
        room_size, damping, wet_level, width: the reverb, sizes and levels in 0..1 (for an
            ``"impulse"`` reverb ``room_size`` sets the decay, 0.15 s to 2.5 s RT60).
        reverb: ``"freeverb"`` (pedalboard ``Reverb``) or ``"impulse"`` (a synthetic response).
        highpass_hz: microphone / preamp low cut in Hz (0: none).
        tilt_db: spectral tilt, dB gained above 1 kHz and lost below it (a shelf pair).
        resonance_hz, resonance_db: one peaking resonance (0 dB: none).
        noise_db: noise floor relative to the signal's RMS, dB (``-inf``: none).
        seed: seeds the impulse response and the noise, so applying a room is deterministic.
    """

    room_size: float
    damping: float
    wet_level: float
    width: float
    reverb: ReverbKind = "freeverb"
    highpass_hz: float = 0.0
    tilt_db: float = 0.0
    resonance_hz: float = 1000.0
    resonance_db: float = 0.0
    noise_db: float = float("-inf")
    seed: int = 0

    @staticmethod
    def random(rng: np.random.Generator, varied: bool = False) -> RoomSettings:
        """A plausible room, from a dry studio to a reverberant hall; with ``varied`` also a
        reverb kind, a microphone colour and a noise floor (drawn from a generator spawned
        off ``rng``, which leaves ``rng``'s own draws as they are without it)."""
        room = RoomSettings(
            room_size=float(rng.uniform(0.1, 0.85)),
            damping=float(rng.uniform(0.2, 0.8)),
            wet_level=float(rng.uniform(0.03, 0.3)),
            width=float(rng.uniform(0.5, 1.0)),
        )
        if not varied:
            return room
        (more,) = rng.spawn(1)
        return RoomSettings(
            room.room_size,
            room.damping,
            room.wet_level,
            room.width,
            reverb="impulse" if more.random() < 0.5 else "freeverb",
            highpass_hz=float(more.choice([0.0, 40.0, 80.0, 120.0])),
            tilt_db=float(more.uniform(-4.0, 4.0)),
            resonance_hz=float(np.exp(more.uniform(np.log(150.0), np.log(6000.0)))),
            resonance_db=float(more.uniform(-6.0, 6.0)),
            noise_db=float(more.uniform(-70.0, -35.0)),
            seed=int(more.integers(2**31)),
        )


def apply_room(audio: np.ndarray, sample_rate: int, room: RoomSettings) -> np.ndarray:
    """``audio`` float ``(channels, samples)`` at ``sample_rate`` Hz heard through ``room``:
    reverb, then microphone colour, then the noise floor; same shape, float32."""
    from pedalboard import (  # deferred: pedalboard's JUCE library, only to apply a room
        HighpassFilter,
        HighShelfFilter,
        LowShelfFilter,
        PeakFilter,
        Pedalboard,
        Plugin,
        Reverb,
    )

    audio = np.ascontiguousarray(audio, dtype=np.float32)
    rng = np.random.default_rng(room.seed)
    effects: list[Plugin] = []
    if room.reverb == "impulse":
        audio = _convolve_room(audio, sample_rate, room, rng)
    else:
        effects += [
            Reverb(
                room_size=room.room_size,
                damping=room.damping,
                wet_level=room.wet_level,
                dry_level=1.0 - room.wet_level,
                width=room.width,
            )
        ]
    if room.highpass_hz > 0:
        effects.append(HighpassFilter(cutoff_frequency_hz=room.highpass_hz))
    if room.tilt_db:
        effects.append(LowShelfFilter(cutoff_frequency_hz=1000.0, gain_db=-room.tilt_db / 2))
        effects.append(HighShelfFilter(cutoff_frequency_hz=1000.0, gain_db=room.tilt_db / 2))
    if room.resonance_db and room.resonance_hz < 0.45 * sample_rate:
        effects.append(
            PeakFilter(cutoff_frequency_hz=room.resonance_hz, gain_db=room.resonance_db, q=1.4)
        )
    out = Pedalboard(effects)(audio, sample_rate) if effects else audio
    if np.isfinite(room.noise_db):
        rms = float(np.sqrt(np.mean(out**2)))
        out = out + (10.0 ** (room.noise_db / 20.0) * rms) * _pink(out.shape, rng)
    return np.ascontiguousarray(out, dtype=np.float32)


def _convolve_room(
    audio: np.ndarray, sample_rate: int, room: RoomSettings, rng: np.random.Generator
) -> np.ndarray:
    """Convolve with a synthetic impulse response: a direct sound, 3-8 early reflections in
    the first 40 ms, and a noise tail decaying to -60 dB in 0.15-2.5 s whose highs die sooner
    (``damping``), mixed at ``wet_level``."""
    rt60 = 0.15 + 2.35 * room.room_size
    n = round(rt60 * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal((audio.shape[0], n)) * np.exp(-6.91 * t / rt60)
    dark = np.exp(-6.91 * t / (rt60 * (1.0 - 0.8 * room.damping)))  # highs fade sooner
    smooth = np.cumsum(tail, axis=-1)
    smooth[:, 4:] -= smooth[:, :-4].copy()  # a 4-tap moving average: the dark part
    tail = dark * tail + (1 - dark) * smooth / 4
    for _ in range(int(rng.integers(3, 9))):
        tail[:, int(rng.uniform(0.002, 0.04) * sample_rate)] += float(rng.uniform(0.3, 1.0))
    tail /= np.sqrt(np.sum(tail**2, axis=-1, keepdims=True)) + 1e-12
    wet = fftconvolve(audio, tail, axes=-1)[:, : audio.shape[-1]]
    dry_rms = np.sqrt(np.mean(audio**2)) + 1e-12
    wet *= dry_rms / (np.sqrt(np.mean(wet**2)) + 1e-12)
    return (1.0 - room.wet_level) * audio + 2.0 * room.wet_level * wet


def _pink(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise of ``shape`` (last axis time) with a 1/f power spectrum."""
    n = shape[-1]
    spectrum = np.fft.rfft(rng.standard_normal(shape), axis=-1)
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.shape[-1]), 1.0))
    noise = np.fft.irfft(spectrum, n, axis=-1)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)
