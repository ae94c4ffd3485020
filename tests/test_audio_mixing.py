"""Mix-and-separate helpers and the model-rate front end (analysis and mask-to-wave synthesis)."""

import pytest
import torch

from avpc_plugin.audio.frontend import analyse_mixture, masks_to_waves
from avpc_plugin.audio.masks import ideal_ratio_mask
from avpc_plugin.audio.mixing import (
    make_mixture,
    minmax_normalize,
    mix_sources,
    peak_normalize,
    random_gains,
)
from avpc_plugin.audio.stft import CLIP_SAMPLES, StftConfig
from avpc_plugin.audio.warp import warp_to_log_freq

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_peak_normalize_sets_every_peak_to_one(dtype: torch.dtype) -> None:
    wave = torch.randn(3, 2, 1000, dtype=dtype) * torch.tensor([0.01, 7.0], dtype=dtype)[:, None]
    normalised = peak_normalize(wave)
    assert normalised.dtype == dtype
    assert torch.equal(normalised.abs().amax(dim=-1), torch.ones(3, 2, dtype=dtype))
    assert torch.allclose(normalised * wave.abs().amax(dim=-1, keepdim=True), wave)
    assert torch.equal(peak_normalize(torch.zeros(2, 10)), torch.zeros(2, 10))


def test_minmax_normalize_is_the_references_scaling() -> None:
    wave = torch.tensor([[0.0, 1.0, 2.0], [-3.0, 1.0, -1.0]], dtype=torch.float64)
    expected = torch.tensor([[-1.0, 0.0, 1.0], [-1.0, 1.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(minmax_normalize(wave, eps=0.0), expected)
    scaled = minmax_normalize(wave)  # eps 1e-3: just below 1 at the top
    assert torch.equal(scaled.amin(dim=-1), torch.full((2,), -1.0, dtype=torch.float64))
    assert (scaled.amax(dim=-1) < 1).all() and (scaled.amax(dim=-1) > 0.999).all()


def test_random_gains_are_in_range_and_reproducible() -> None:
    gains = random_gains((64, 3), generator=torch.Generator().manual_seed(7))
    assert gains.shape == (64, 3)
    assert (gains >= 0.5).all() and (gains < 1.5).all()
    assert gains.std() > 0.2  # spread over the range, not a constant
    again = random_gains((64, 3), generator=torch.Generator().manual_seed(7))
    other = random_gains((64, 3), generator=torch.Generator().manual_seed(8))
    assert torch.equal(gains, again) and not torch.equal(gains, other)
    narrow = random_gains((10,), 2.0, 2.5, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert narrow.dtype == torch.float64 and (narrow >= 2).all() and (narrow < 2.5).all()
    with pytest.raises(ValueError, match="low, high"):
        random_gains((2,), low=1.5, high=0.5)


def test_mix_sources_is_sum_over_n() -> None:
    sources = torch.tensor([[[1.0, 2.0], [3.0, -2.0], [5.0, 6.0]]])
    assert torch.allclose(mix_sources(sources), torch.tensor([[3.0, 2.0]]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("batch", "n_sources"), [(1, 2), (3, 2), (1, 3), (3, 3)])
def test_mixture_is_exactly_the_mean_of_the_gained_sources(
    batch: int, n_sources: int, dtype: torch.dtype
) -> None:
    gen = torch.Generator().manual_seed(batch * 10 + n_sources)
    sources = peak_normalize(torch.randn(batch, n_sources, 500, generator=gen, dtype=dtype))
    gains = random_gains((batch, n_sources), generator=gen, dtype=dtype)
    mixture = make_mixture(sources, gains)
    assert mixture.sources.dtype == mixture.mix.dtype == dtype
    assert torch.equal(mixture.sources, sources * gains[..., None])
    assert torch.equal(mixture.mix, mixture.sources.mean(dim=1))
    assert mixture.mix.shape == (batch, 500)


def test_make_mixture_without_gains_and_with_clipping() -> None:
    sources = torch.tensor([[[0.5, -1.0], [1.0, 0.2]]])
    assert torch.equal(make_mixture(sources).sources, sources)
    clipped = make_mixture(sources, torch.tensor([[1.5, 1.5]]), clip=1.0)
    assert torch.allclose(clipped.sources, torch.tensor([[[0.75, -1.0], [1.0, 0.3]]]))
    assert torch.equal(clipped.mix, clipped.sources.mean(dim=1))
    with pytest.raises(ValueError, match=r"gains: expected shape \(1, 2\)"):
        make_mixture(sources, torch.ones(2, 1))


@pytest.mark.parametrize(("batch", "n_sources"), [(1, 2), (3, 3)])
def test_analyse_mixture_gives_the_model_rate_spectrograms(batch: int, n_sources: int) -> None:
    sources = torch.randn(batch, n_sources, CLIP_SAMPLES)
    mix = mix_sources(sources)
    analysis = analyse_mixture(mix, sources)
    assert analysis.mix_spec.shape == (batch, 512, 256) and analysis.mix_spec.is_complex()
    assert analysis.mix_mag.shape == (batch, 1, 512, 256)
    assert analysis.warped_mix_mag.shape == (batch, 1, 256, 256)
    assert analysis.warped_source_mags is not None
    assert analysis.warped_source_mags.shape == (batch, n_sources, 256, 256)
    assert torch.equal(analysis.mix_mag[:, 0], analysis.mix_spec.abs())
    assert torch.equal(analysis.warped_mix_mag, warp_to_log_freq(analysis.mix_mag))
    assert analyse_mixture(mix).warped_source_mags is None
    with pytest.raises(ValueError, match="sources: expected"):
        analyse_mixture(mix, sources[..., :-1])


def test_unit_masks_give_back_the_mixture() -> None:
    mix = torch.randn(2, 3000, dtype=torch.float64)
    analysis = analyse_mixture(mix)
    masks = torch.ones(2, 3, 256, analysis.mix_spec.shape[-1], dtype=torch.float64)
    waves = masks_to_waves(masks, analysis.mix_spec, 3000)
    assert waves.shape == (2, 3, 3000)
    assert (waves - mix[:, None]).abs().max().item() < 1e-6


def test_masks_that_sum_to_one_give_stems_that_sum_to_the_mixture() -> None:
    sources = torch.randn(2, 3, 4000, dtype=torch.float64)
    mix = mix_sources(sources)
    analysis = analyse_mixture(mix, sources)
    assert analysis.warped_source_mags is not None
    masks = ideal_ratio_mask(analysis.warped_source_mags)
    stems = masks_to_waves(masks, analysis.mix_spec, 4000)
    assert (stems.sum(dim=1) - mix).abs().max().item() < 1e-6


def test_threshold_binarises_after_unwarping() -> None:
    mix = torch.randn(1, 3000, dtype=torch.float64)
    spec = analyse_mixture(mix).mix_spec
    masks = torch.full((1, 2, 256, spec.shape[-1]), 0.7, dtype=torch.float64)
    masks[:, 1] = 0.3
    waves = masks_to_waves(masks, spec, 3000, threshold=0.5)
    assert (waves[:, 0] - mix).abs().max().item() < 1e-6
    assert waves[:, 1].abs().max().item() == 0.0


def test_masks_to_waves_is_differentiable_and_takes_another_stft() -> None:
    config = StftConfig(n_fft=254, hop=64)
    spec = analyse_mixture(torch.randn(1, 2000), config=config).mix_spec
    assert spec.shape[-2] == 128
    masks = torch.full((1, 2, 256, spec.shape[-1]), 0.5, requires_grad=True)
    masks_to_waves(masks, spec, 2000, config).square().sum().backward()
    assert masks.grad is not None and masks.grad.abs().sum() > 0
