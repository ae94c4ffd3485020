"""Applying model-rate masks to the original audio at its own sample rate, every channel.

Masks come on the model grid: ``FREQ_BINS`` (512) bins up to 5512.5 Hz, frames every
``HOP / MODEL_RATE`` seconds (23.2 ms). The original audio gets its own STFT
(:func:`full_rate_stft_config`) whose hop lasts the same time (1024 samples at 44.1 kHz, so
its frames fall exactly on model frames; at 48 kHz 1115 samples, 0.04 % longer). Each full-rate
bin takes the mask at its frequency in Hz and each full-rate frame the mask at its time, both by
linear interpolation; bins above the model band follow a :data:`HighBandRule`. The masked
spectrogram goes back through the iSTFT to exactly the input length.

Long inputs are rendered in blocks (:class:`FullRateRenderer`): a block of output samples is
computed from a slice of the input ``n_fft`` samples wider on each side, so every STFT frame that
touches the block sees the same samples as in one STFT of the whole input, and the blocks join
without seams (identical to the one-shot result up to float rounding).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from avpc_plugin.audio.masks import apply_mask
from avpc_plugin.audio.stft import FREQ_BINS, HOP, MODEL_RATE, N_FFT, StftConfig, istft, stft
from avpc_plugin.stem_settings import HIGH_BAND_RULES, HighBandRule


def full_rate_stft_config(sample_rate: int) -> StftConfig:
    """STFT for audio at ``sample_rate`` whose hop lasts one model hop (23.2 ms).

    ``hop = round(HOP * sample_rate / MODEL_RATE)`` and ``n_fft = 4 * hop`` (75 % overlap, so the
    Hann window overlap-adds to a constant and the iSTFT is exact); zero padding at the edges, so
    any length works. 44.1 kHz: n_fft 4096, hop 1024; 48 kHz: 4460 / 1115.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate: expected a positive rate in Hz, got {sample_rate!r}")
    hop = max(1, round(HOP * sample_rate / MODEL_RATE))
    return StftConfig(n_fft=4 * hop, hop=hop, pad_mode="constant")


def model_bin_positions(config: StftConfig, sample_rate: int) -> Tensor:
    """Fractional model bin of each full-rate bin's frequency, ``(config.bins,)`` float64.

    Values above ``FREQ_BINS - 1`` lie above the model band.
    """
    hz = torch.arange(config.bins, dtype=torch.float64) * (sample_rate / config.n_fft)
    return hz * (N_FFT / MODEL_RATE)


def model_frame_positions(frames: Tensor, config: StftConfig, sample_rate: int) -> Tensor:
    """Fractional model frame at the time of each full-rate frame index in ``frames`` (float64)."""
    return frames.to(torch.float64) * (config.hop * MODEL_RATE / (sample_rate * HOP))


def _lerp_along(x: Tensor, positions: Tensor, dim: int) -> Tensor:
    """Linear interpolation of ``x`` along ``dim`` at fractional ``positions`` (clamped to it)."""
    size = x.shape[dim]
    pos = positions.clamp(0, size - 1)
    lower = pos.floor().long().clamp(max=size - 1)
    upper = (lower + 1).clamp(max=size - 1)
    frac = (pos - lower).to(x.dtype).to(x.device)
    shape = [1] * x.dim()
    shape[dim] = -1
    below = x.index_select(dim, lower.to(x.device))
    above = x.index_select(dim, upper.to(x.device))
    return below + frac.view(shape) * (above - below)


def masks_to_full_rate(
    masks: Tensor,
    first_model_frame: int,
    full_frames: Tensor,
    config: StftConfig,
    sample_rate: int,
    high_band: HighBandRule | Sequence[HighBandRule] = "top_bin",
    band_limits: Sequence[tuple[float, float]] | None = None,
) -> Tensor:
    """Resample model-grid masks onto full-rate STFT frames and bins.

    Args:
        masks: ``(N, FREQ_BINS, Tm)`` masks for model frames ``first_model_frame ...``; must cover
            the model frames around every requested time (positions outside are clamped).
        first_model_frame: grid index of ``masks[..., 0]``.
        full_frames: ``(Tf,)`` int64 full-rate frame indices (from the range start).
        config: the full-rate STFT (:func:`full_rate_stft_config`).
        sample_rate: the full rate (Hz).
        high_band: rule for bins above the model band, one for all stems or one per stem.
        band_limits: per stem ``(low_hz, high_hz)``: bins outside get mask 0 (None: no limits).

    Returns:
        ``(N, config.bins, Tf)`` masks, in ``masks``' dtype and device.
    """
    if masks.dim() != 3 or masks.shape[1] != FREQ_BINS:
        raise ValueError(f"masks: expected (N, {FREQ_BINS}, frames), got {tuple(masks.shape)}")
    rules = per_stem_rules(high_band, masks.shape[0])
    if band_limits is not None and len(band_limits) != masks.shape[0]:
        raise ValueError(f"band_limits: expected {masks.shape[0]} (low, high) pairs, one per stem")
    times = model_frame_positions(full_frames, config, sample_rate) - first_model_frame
    in_time = _lerp_along(masks, times, dim=2)
    bins = model_bin_positions(config, sample_rate)
    out = _lerp_along(in_time, bins, dim=1)  # above the band: clamped to the top bin
    above = (bins > FREQ_BINS - 1).to(out.device)
    hz = torch.arange(config.bins, dtype=torch.float64, device=out.device) * (
        sample_rate / config.n_fft
    )
    for n, rule in enumerate(rules):
        if rule != "top_bin":
            out[n, above] = 0.0 if rule == "zero" else 1.0
        if band_limits is not None:
            low, high = band_limits[n]
            out[n, (hz < low) | (hz > high)] = 0.0
    return out


def per_stem_rules(
    high_band: HighBandRule | Sequence[HighBandRule], stems: int
) -> tuple[HighBandRule, ...]:
    """One high-band rule per stem from a single rule or a sequence of ``stems`` rules."""
    rules = (high_band,) * stems if isinstance(high_band, str) else tuple(high_band)
    if len(rules) != stems:
        raise ValueError(f"high_band: expected one rule or {stems} (one per stem), got {rules}")
    for rule in rules:
        if rule not in HIGH_BAND_RULES:
            raise ValueError(f"high_band: expected one of {HIGH_BAND_RULES}, got {rule!r}")
    return rules


class FullRateRenderer:
    """Renders stems block by block from the full-rate input and the model-rate masks.

    Args:
        sample_rate: rate of the input (Hz).
        length: input samples (of the requested range).
        model_frames: frames of the model-rate grid of the range (``WindowPlan.total_frames``).
        block_seconds: output seconds per block (memory ~ channels x stems x block).
        high_band: rule for bins above the model band, one for all stems or one per stem.
        band_limits: per stem ``(low_hz, high_hz)`` outside which the stem gets nothing, or None.
    """

    def __init__(
        self,
        sample_rate: int,
        length: int,
        model_frames: int,
        block_seconds: float = 30.0,
        high_band: HighBandRule | Sequence[HighBandRule] = "top_bin",
        band_limits: Sequence[tuple[float, float]] | None = None,
    ) -> None:
        if length < 1:
            raise ValueError(f"length: expected at least one sample, got {length}")
        if isinstance(high_band, str):
            per_stem_rules(high_band, 1)  # validates the rule
        else:
            per_stem_rules(high_band, len(high_band))
        self.sample_rate = sample_rate
        self.length = length
        self.model_frames = model_frames
        self.high_band = high_band
        self.band_limits = band_limits
        self.config = full_rate_stft_config(sample_rate)
        hops = max(1, math.ceil(block_seconds * sample_rate / self.config.hop))
        self.block_samples = hops * self.config.hop

    def blocks(self) -> Iterator[tuple[int, int]]:
        """Output sample ranges ``[start, stop)`` of the blocks, in order."""
        for start in range(0, self.length, self.block_samples):
            yield start, min(start + self.block_samples, self.length)

    def input_span(self, start: int, stop: int) -> tuple[int, int]:
        """Input samples ``[first, last)`` the block ``[start, stop)`` needs (starts on a hop)."""
        margin = self.config.n_fft
        return max(0, start - margin), min(self.length, stop + margin)

    def model_frames_needed(self, start: int, stop: int) -> tuple[int, int]:
        """Model grid frames ``[first, last)`` the block needs (clamped to the grid)."""
        first, last = self.input_span(start, stop)
        frames = torch.tensor(
            [
                first // self.config.hop,
                self.config.frames(last - first) - 1 + first // self.config.hop,
            ]
        )
        pos = model_frame_positions(frames, self.config, self.sample_rate)
        lo = max(0, math.floor(pos[0].item()))
        hi = min(self.model_frames, math.floor(pos[1].item()) + 2)
        return min(lo, hi - 1), hi

    def render(
        self,
        segment: Tensor,
        segment_start: int,
        start: int,
        stop: int,
        masks: Tensor,
        first_model_frame: int,
    ) -> Tensor:
        """Masked output samples ``[start, stop)`` for every stem and channel.

        Args:
            segment: input samples ``input_span(start, stop)`` as ``(C, samples)`` (float).
            segment_start: the first sample of ``segment`` (``input_span(...)[0]``).
            start, stop: the block.
            masks: model-grid masks ``(N, FREQ_BINS, Tm)`` covering ``model_frames_needed``.
            first_model_frame: grid index of ``masks[..., 0]``.

        Returns:
            ``(N, C, stop - start)`` stems, ``segment``'s dtype and device.
        """
        if segment_start % self.config.hop:
            raise ValueError(f"segment_start: {segment_start} is not a multiple of the hop")
        spec = stft(segment, self.config)  # (C, F, T)
        frames = torch.arange(spec.shape[-1]) + segment_start // self.config.hop
        full_masks = masks_to_full_rate(
            masks,
            first_model_frame,
            frames,
            self.config,
            self.sample_rate,
            self.high_band,
            self.band_limits,
        ).to(segment.dtype)
        stems = istft(
            apply_mask(spec.unsqueeze(0), full_masks.unsqueeze(1)), segment.shape[-1], self.config
        )
        return stems[..., start - segment_start : stop - segment_start]
