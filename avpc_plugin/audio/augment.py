"""Timbre augmentation of training sources: a random equaliser per source.

Two recordings of one instrument differ most in their spectral envelope (the instrument's body,
the microphone, the room, the sample set a soundfont was made from). A net trained on a few
soundfonts learns those envelopes; one trained on randomly equalised copies has to rely on what
all of them share (pitch structure, harmonicity, onsets), which is what carries over to sounds it
never saw. The equaliser is a pedalboard chain of biquads: a low shelf, two peaking bands and a
high shelf, each with a random frequency and a gain of up to ``EQ_GAIN_DB`` either way.
"""

from __future__ import annotations

import numpy as np
from pedalboard import HighShelfFilter, LowShelfFilter, PeakFilter, Pedalboard, Plugin

from avpc_plugin.audio.stft import MODEL_RATE

EQ_GAIN_DB = 9.0
"""Largest boost or cut of every band, dB."""
LOW_SHELF_HZ = (80.0, 400.0)
"""Range of the low shelf's corner frequency (log-uniform), Hz."""
PEAK_HZ = (150.0, 4000.0)
"""Range of the peaking bands' centre frequencies (log-uniform), Hz."""
PEAK_Q = (0.5, 2.0)
"""Range of the peaking bands' quality factor."""
HIGH_SHELF_FRACTION = (0.15, 0.45)
"""Range of the high shelf's corner frequency as a fraction of the sample rate (log-uniform)."""
SHELF_Q = 0.707


def random_equalizer(rng: np.random.Generator, sample_rate: int = MODEL_RATE) -> Pedalboard:
    """A random four-band equaliser (low shelf, two peaks, high shelf) for ``sample_rate``.

    Every frequency, gain (uniform in ``[-EQ_GAIN_DB, EQ_GAIN_DB]`` dB) and peak Q is drawn from
    ``rng``, so a seeded generator gives the same equaliser.
    """
    if sample_rate < 8000:
        raise ValueError(f"sample_rate: expected >= 8000 Hz, got {sample_rate}")

    def log_uniform(low: float, high: float) -> float:
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))

    def gain() -> float:
        return float(rng.uniform(-EQ_GAIN_DB, EQ_GAIN_DB))

    bands: list[Plugin] = [LowShelfFilter(log_uniform(*LOW_SHELF_HZ), gain(), SHELF_Q)]
    bands += [PeakFilter(log_uniform(*PEAK_HZ), gain(), float(rng.uniform(*PEAK_Q))) for _ in "ab"]
    high = log_uniform(*(f * sample_rate for f in HIGH_SHELF_FRACTION))
    bands.append(HighShelfFilter(high, gain(), SHELF_Q))
    return Pedalboard(bands)


def equalize_randomly(
    wave: np.ndarray, rng: np.random.Generator, sample_rate: int = MODEL_RATE
) -> np.ndarray:
    """``wave`` through :func:`random_equalizer`: float32 ``(L,)`` in, float32 ``(L,)`` out.

    The level changes with the bands' gains; callers peak-normalise afterwards, as the
    mixing recipe does anyway.
    """
    if wave.ndim != 1:
        raise ValueError(f"wave: expected a mono (L,) signal, got shape {wave.shape}")
    board = random_equalizer(rng, sample_rate)
    out = board(np.ascontiguousarray(wave, dtype=np.float32), sample_rate, reset=True)
    return np.asarray(out, dtype=np.float32).reshape(-1)
