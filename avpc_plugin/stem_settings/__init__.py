"""What one stem's separation follows: a :class:`Preset` (mask, smoothing, band, residual,
visual query and post-chain settings), the rules for bins above the model's band, the visual
query's frame constants, and the pedalboard post chain a preset describes.

A leaf of the package: it imports neither :mod:`avpc_plugin.presets` (finding, reading, writing
and inheriting preset files, on top of this) nor :mod:`avpc_plugin.separate` (which applies
resolved :class:`Preset` objects).
"""

from avpc_plugin.stem_settings.post import PostChain, build_post_chain, effect_classes
from avpc_plugin.stem_settings.schema import (
    FRAME_STRIDE_SECONDS,
    FRAMES_PER_WINDOW,
    HIGH_BAND_RULES,
    BandSettings,
    EffectSpec,
    HighBandRule,
    MaskSettings,
    Preset,
    PresetError,
    ResidualSettings,
    SmoothingSettings,
    VisualSettings,
    reference_preset,
)

__all__ = [
    "FRAMES_PER_WINDOW",
    "FRAME_STRIDE_SECONDS",
    "HIGH_BAND_RULES",
    "BandSettings",
    "EffectSpec",
    "HighBandRule",
    "MaskSettings",
    "PostChain",
    "Preset",
    "PresetError",
    "ResidualSettings",
    "SmoothingSettings",
    "VisualSettings",
    "build_post_chain",
    "effect_classes",
    "reference_preset",
]
