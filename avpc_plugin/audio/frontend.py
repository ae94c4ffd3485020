"""The model-rate spectrogram front end shared by training, evaluation and inference.

Waveforms in (model rate, linear amplitude) -> the spectrograms the nets and losses need; masks
out (the nets' log-frequency grid) -> separated waveforms. Nothing here detaches or disables
autograd: with data waveforms (no ``requires_grad``) no graph is recorded anyway, and
:func:`masks_to_waves` stays differentiable for waveform-domain losses. Callers doing pure
inference wrap their loop in ``torch.inference_mode()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from avpc_plugin.audio.masks import apply_mask
from avpc_plugin.audio.stft import MODEL_STFT, WARPED_BINS, StftConfig, istft, stft
from avpc_plugin.audio.warp import unwarp_from_log_freq, warp_to_log_freq


@dataclass(frozen=True)
class MixtureAnalysis:
    """Spectrograms of a batch of mixtures (and optionally of their sources).

    Shapes for ``B`` clips of ``N`` sources with ``F`` linear bins, ``H`` warped rows and ``T``
    frames (a 65535-sample model clip: F = 512, H = 256, T = 256). Magnitudes are linear,
    unnormalised STFT scale, no floor added.
    """

    mix_spec: Tensor
    """Complex STFT of the mixture ``(B, F, T)``: its phase is reused for every stem."""
    mix_mag: Tensor
    """``|mix_spec|`` as ``(B, 1, F, T)``."""
    warped_mix_mag: Tensor
    """Log-frequency-warped mixture magnitude ``(B, 1, H, T)``: the nets' input."""
    warped_source_mags: Tensor | None
    """Warped source magnitudes ``(B, N, H, T)`` for the mask targets, or ``None``."""


def analyse_mixture(
    mix: Tensor,
    sources: Tensor | None = None,
    config: StftConfig = MODEL_STFT,
    warped_bins: int = WARPED_BINS,
) -> MixtureAnalysis:
    """STFT and log-frequency warp of a batch of mixtures and, for training, their sources.

    Args:
        mix: mixture waveforms ``(B, L)`` at the model rate.
        sources: the sources the mixture is made of ``(B, N, L)``, or ``None`` at inference.
        config: the STFT (model rate by default).
        warped_bins: rows of the warped spectrograms.

    Returns:
        :class:`MixtureAnalysis` on ``mix``'s device and dtype.
    """
    if mix.dim() != 2:
        raise ValueError(f"mix: expected waveforms (B, samples), got shape {tuple(mix.shape)}")
    mix_spec = stft(mix, config)
    mix_mag = mix_spec.abs().unsqueeze(1)
    warped_sources = None
    if sources is not None:
        if (
            sources.dim() != 3
            or sources.shape[0] != mix.shape[0]
            or (sources.shape[-1] != mix.shape[-1])
        ):
            raise ValueError(
                f"sources: expected (B, N, samples) matching mix {tuple(mix.shape)}, "
                f"got shape {tuple(sources.shape)}"
            )
        warped_sources = warp_to_log_freq(stft(sources, config).abs(), warped_bins)
    return MixtureAnalysis(
        mix_spec=mix_spec,
        mix_mag=mix_mag,
        warped_mix_mag=warp_to_log_freq(mix_mag, warped_bins),
        warped_source_mags=warped_sources,
    )


def masks_to_waves(
    masks: Tensor,
    mix_spec: Tensor,
    length: int,
    config: StftConfig = MODEL_STFT,
    threshold: float | None = None,
) -> Tensor:
    """Separated waveforms from warped masks: un-warp, scale the mixture, mixture phase, iSTFT.

    Args:
        masks: mask probabilities (after the sigmoid) on the warped grid ``(B, N, H, T)``.
        mix_spec: complex mixture STFT ``(B, F, T)`` from :func:`analyse_mixture`.
        length: samples of the output (the mixture's length).
        config: the STFT ``mix_spec`` was made with.
        threshold: if given, binarise the *un-warped* masks at this value (``mask > threshold``),
            as the reference does for binary masks; ``None`` keeps them soft.

    Returns:
        ``(B, N, length)`` waveforms, in ``mix_spec``'s real dtype and device.
    """
    if (
        masks.dim() != 4
        or mix_spec.dim() != 3
        or masks.shape[0] != mix_spec.shape[0]
        or (masks.shape[-1] != mix_spec.shape[-1])
    ):
        raise ValueError(
            f"masks, mix_spec: expected (B, N, H, T) masks and a (B, F, T) spectrogram with the "
            f"same B and T, got {tuple(masks.shape)} and {tuple(mix_spec.shape)}"
        )
    linear_masks = unwarp_from_log_freq(masks, mix_spec.shape[-2])
    if threshold is not None:
        linear_masks = (linear_masks > threshold).to(linear_masks.dtype)
    return istft(apply_mask(mix_spec.unsqueeze(1), linear_masks), length, config)
