"""Sample rates shared by the corpus synthesizers: render above the model rate, then resample.

Every synthesizer (soundfont, STK, additive) plays at :func:`synth_rate` and comes down to the
requested rate with :func:`resample`, a polyphase anti-aliasing filter, because a synthesizer
running directly at 11025 Hz folds the partials of high notes back into the band.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import resample_poly


def synth_rate(sample_rate: int) -> int:
    """The rate a synthesizer plays at for output at ``sample_rate`` Hz: the rate itself when it
    is 22.05 kHz or more, else twice it."""
    if sample_rate < 8000:
        raise ValueError(f"sample_rate: expected >= 8000 Hz, got {sample_rate}")
    return sample_rate if sample_rate >= 22050 else 2 * sample_rate


def resample(audio: np.ndarray, rate: int, target: int, length: int) -> np.ndarray:
    """``audio`` ``(channels, samples)`` at ``rate`` Hz brought to ``target`` Hz and cut or
    zero-padded to ``length`` samples; returns contiguous float32 ``(channels, length)``."""
    if rate != target:
        g = gcd(rate, target)
        audio = resample_poly(audio, target // g, rate // g, axis=-1)
    out = np.zeros((audio.shape[0], length), dtype=np.float32)
    n = min(length, audio.shape[-1])
    out[:, :n] = audio[:, :n]
    return out
