"""Stem presets as files: TOML files found on a search path, resolved through inheritance into
:class:`~avpc_plugin.stem_settings.Preset` objects (:func:`load_preset`), and written back
(:mod:`~avpc_plugin.presets.writer`). ``avpc presets`` manages them.

The settings objects themselves live in :mod:`avpc_plugin.stem_settings` and are re-exported
here, so ``from avpc_plugin.presets import Preset, load_preset`` works.
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
from avpc_plugin.stem_settings import (
    BandSettings,
    EffectSpec,
    MaskSettings,
    PostChain,
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
    "find_preset_file",
    "list_presets",
    "load_preset",
    "load_preset_file",
    "preset_search_path",
    "shipped_presets_dir",
    "user_presets_dir",
]
