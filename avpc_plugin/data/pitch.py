"""Fundamental-frequency estimate of a steady note (YIN), to check what a synthesizer plays.

Used by the tests that check that every sound family plays the pitch it was asked for, and to
measure the STK voices' tuning tables (:mod:`avpc_plugin.data.stk`).
"""

from __future__ import annotations

import numpy as np


def estimate_f0(
    audio: np.ndarray,
    sample_rate: int,
    fmin: float = 30.0,
    fmax: float = 2500.0,
    threshold: float = 0.15,
) -> float:
    """The fundamental of a steady monophonic segment, in Hz (YIN, de Cheveigné & Kawahara 2002).

    Args:
        audio: mono samples ``(samples,)``; at least two periods of ``fmin`` long.
        sample_rate: in Hz.
        fmin, fmax: search range in Hz.
        threshold: the cumulative-mean-normalised difference below which the first dip is taken
            (lower: fewer octave-too-high errors, more too-low ones).

    Returns:
        The estimate in Hz, refined by parabolic interpolation (``nan`` for a silent segment).
    """
    x = np.asarray(audio, dtype=np.float64).ravel()
    x = x - x.mean()
    n = x.size
    max_lag = int(sample_rate / fmin)
    if n < 2 * max_lag:
        raise ValueError(f"audio: expected >= {2 * max_lag} samples for fmin {fmin} Hz, got {n}")
    if not np.any(x):
        return float("nan")
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: max_lag + 1]
    energy = np.concatenate([[0.0], np.cumsum(x**2)])
    lags = np.arange(max_lag + 1)
    diff = energy[n - lags] + (energy[n] - energy[lags]) - 2.0 * acf
    diff[0] = 0.0
    cmnd = np.ones(max_lag + 1)
    cmnd[1:] = diff[1:] * lags[1:] / np.maximum(np.cumsum(diff[1:]), 1e-12)
    low = max(2, int(sample_rate / fmax))
    below = np.flatnonzero(cmnd[low:max_lag] < threshold)
    if below.size:
        lag = low + int(below[0])
        while lag + 1 < max_lag and cmnd[lag + 1] < cmnd[lag]:
            lag += 1
    else:
        lag = low + int(np.argmin(cmnd[low:max_lag]))
    a, b, c = cmnd[lag - 1], cmnd[lag], cmnd[min(lag + 1, max_lag)]
    denominator = a - 2.0 * b + c
    shift = 0.5 * (a - c) / denominator if abs(denominator) > 1e-12 else 0.0
    return float(sample_rate / (lag + shift))


def cents(f: float, midi_pitch: float) -> float:
    """How far ``f`` Hz lies from MIDI ``midi_pitch`` (A4 = 69 = 440 Hz), in cents."""
    return float(1200.0 * np.log2(f / (440.0 * 2.0 ** ((midi_pitch - 69.0) / 12.0))))
