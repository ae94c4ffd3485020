"""Random equaliser for training sources: seeded, linear and time-invariant, bounded."""

from __future__ import annotations

import numpy as np
import pytest

from avpc_plugin.audio.augment import EQ_GAIN_DB, equalize_randomly, random_equalizer
from avpc_plugin.audio.stft import MODEL_RATE

SECONDS = 2.0


def _sine(hz: float) -> np.ndarray:
    t = np.arange(int(SECONDS * MODEL_RATE)) / MODEL_RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_same_seed_same_equaliser_other_seed_other_one() -> None:
    noise = np.random.default_rng(0).standard_normal(int(SECONDS * MODEL_RATE)).astype(np.float32)
    a = equalize_randomly(noise, np.random.default_rng(5))
    b = equalize_randomly(noise, np.random.default_rng(5))
    c = equalize_randomly(noise, np.random.default_rng(6))
    assert a.dtype == np.float32 and a.shape == noise.shape
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c, atol=1e-3)


def test_equaliser_is_linear() -> None:
    x, y = _sine(220.0), _sine(1700.0)
    eq = lambda wave: equalize_randomly(wave, np.random.default_rng(11))  # noqa: E731
    np.testing.assert_allclose(eq(0.7 * x - 0.4 * y), 0.7 * eq(x) - 0.4 * eq(y), atol=1e-5)


@pytest.mark.parametrize("hz", [110.0, 440.0, 1500.0, 4000.0])
def test_a_sine_stays_a_sine_of_the_same_pitch_within_the_gain_bounds(hz: float) -> None:
    """An equaliser only reweights frequencies: a steady sine comes out as the same sine, its
    level changed by at most the four bands' largest gains together."""
    for seed in range(8):
        out = equalize_randomly(_sine(hz), np.random.default_rng(seed))
        steady = out[MODEL_RATE // 2 :]  # past the filters' transients
        spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady)))) ** 2
        freqs = np.fft.rfftfreq(len(steady), 1 / MODEL_RATE)
        near = np.abs(freqs - hz) < 10.0
        assert spectrum[near].sum() / spectrum.sum() > 0.999
        level_db = 20 * np.log10(np.abs(steady).max() / 0.5)
        assert abs(level_db) <= 4 * EQ_GAIN_DB


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="wave: expected a mono"):
        equalize_randomly(np.zeros((2, 100), np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="sample_rate"):
        random_equalizer(np.random.default_rng(0), sample_rate=4000)
