"""Per-instrument stem presets: TOML files with mask, smoothing, band, residual, visual query and
pedalboard post-chain settings, found on a search path and resolved through inheritance.

The Separator applies a stem's preset (``StemQuery.preset``); the OSC engine validates job presets
with :func:`load_preset` and lists them with :func:`list_presets`; ``avpc presets`` manages them.
"""

from avpc_plugin.presets.loader import (
    DEFAULT_PRESET,
    PRESETS_PATH_ENV,
    find_preset_file,
    list_presets,
    load_preset,
    load_preset_file,
    preset_search_path,
    shipped_presets_dir,
    user_presets_dir,
)
from avpc_plugin.presets.post import PostChain, build_post_chain, effect_classes
from avpc_plugin.presets.schema import (
    BandSettings,
    EffectSpec,
    MaskSettings,
    Preset,
    PresetError,
    ResidualSettings,
    SmoothingSettings,
    VisualSettings,
)

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS_PATH_ENV",
    "BandSettings",
    "EffectSpec",
    "MaskSettings",
    "PostChain",
    "Preset",
    "PresetError",
    "ResidualSettings",
    "SmoothingSettings",
    "VisualSettings",
    "build_post_chain",
    "effect_classes",
    "find_preset_file",
    "list_presets",
    "load_preset",
    "load_preset_file",
    "preset_search_path",
    "shipped_presets_dir",
    "user_presets_dir",
]
