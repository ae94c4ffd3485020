"""STFT / iSTFT: model-rate shapes, exact round trip, librosa's scale, dtype and autograd."""

import math

import pytest
import torch

from avpc_plugin.audio.stft import (
    CLIP_FRAMES,
    CLIP_SAMPLES,
    FREQ_BINS,
    HOP,
    MODEL_RATE,
    N_FFT,
    WARPED_BINS,
    StftConfig,
    hann_window,
    istft,
    magphase,
    polar,
    stft,
)

FULL_RATE_44K = StftConfig(n_fft=4094, hop=1024)


def test_model_rate_constants() -> None:
    assert (MODEL_RATE, N_FFT, HOP, CLIP_SAMPLES, WARPED_BINS) == (11025, 1022, 256, 65535, 256)
    assert (FREQ_BINS, CLIP_FRAMES) == (512, 256)
    assert StftConfig().bins == FREQ_BINS
    assert StftConfig().frames(CLIP_SAMPLES) == CLIP_FRAMES


@pytest.mark.parametrize("lead", [(1,), (3,), (3, 2)])
def test_model_clip_gives_512_by_256(lead: tuple[int, ...]) -> None:
    wave = torch.randn(*lead, CLIP_SAMPLES)
    spec = stft(wave)
    assert spec.shape == (*lead, 512, 256)
    assert spec.dtype == torch.complex64


@pytest.mark.parametrize(
    ("config", "length"),
    [
        (StftConfig(), CLIP_SAMPLES),
        (StftConfig(), CLIP_SAMPLES + 1),
        (StftConfig(), 4097),  # odd, not a multiple of the hop
        (StftConfig(), 512),  # shortest reflect-padded signal
        (StftConfig(pad_mode="constant"), 100),  # shorter than half a window
        (FULL_RATE_44K, 2 * 44100 + 7),
    ],
)
def test_round_trip_is_exact_in_float64(config: StftConfig, length: int) -> None:
    gen = torch.Generator().manual_seed(0)
    wave = torch.randn(2, 3, length, dtype=torch.float64, generator=gen)
    spec = stft(wave, config)
    assert spec.shape == (2, 3, config.bins, config.frames(length))
    back = istft(spec, length, config)
    assert back.shape == wave.shape and back.dtype == torch.float64
    assert (back - wave).abs().max().item() < 1e-6


def test_round_trip_in_float32() -> None:
    wave = torch.randn(3, CLIP_SAMPLES, generator=torch.Generator().manual_seed(1))
    back = istft(stft(wave), CLIP_SAMPLES)
    assert back.dtype == torch.float32
    assert (back - wave).abs().max().item() < 1e-5


def test_magnitude_uses_librosas_unnormalised_scale() -> None:
    # A cosine of amplitude A exactly on bin k: |X[k]| = A * sum(hann) / 2 = A * n_fft / 4.
    amplitude, k, length = 0.3, 40, 8192
    t = torch.arange(length, dtype=torch.float64)
    wave = amplitude * torch.cos(2 * math.pi * k * t / N_FFT)
    mag = stft(wave).abs()
    interior = mag[:, 4:-4]
    assert torch.allclose(interior[k], torch.full_like(interior[k], amplitude * N_FFT / 4))
    assert interior.argmax(dim=0).eq(k).all()


def test_too_short_signal_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"wave: 511 samples is too short"):
        stft(torch.zeros(2, 511))


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="wave: expected a real floating-point"):
        stft(torch.zeros(2, 2048, dtype=torch.int64))
    with pytest.raises(ValueError, match="spec: expected 512 frequency bins"):
        istft(torch.zeros(2, 256, 10, dtype=torch.complex64), 2048)
    with pytest.raises(ValueError, match="spec: expected a complex tensor"):
        istft(torch.zeros(2, 512, 10), 2048)
    with pytest.raises(ValueError, match=r"StftConfig\.hop"):
        StftConfig(n_fft=1022, hop=2000)
    with pytest.raises(ValueError, match=r"StftConfig\.pad_mode"):
        StftConfig(pad_mode="circular")  # type: ignore[arg-type]


def test_magphase_and_polar_are_inverse() -> None:
    spec = stft(torch.randn(2, 3000, dtype=torch.float64))
    mag, phase = magphase(spec)
    assert mag.dtype == phase.dtype == torch.float64
    assert (mag >= 0).all() and (phase.abs() <= math.pi).all()
    assert torch.allclose(polar(mag, phase), spec, atol=1e-12)


def test_window_built_in_inference_mode_still_supports_autograd() -> None:
    config = StftConfig(n_fft=62, hop=16)
    hann_window.cache_clear()
    with torch.inference_mode():
        stft(torch.randn(1, 200), config)  # fills the window cache inside inference mode
    wave = torch.randn(1, 200, requires_grad=True)
    istft(stft(wave, config), 200, config).square().sum().backward()
    assert wave.grad is not None
    assert torch.allclose(wave.grad, 2 * wave.detach(), atol=1e-4)
