"""The post chain: a preset's ``[[post]]`` entries checked and built into a pedalboard chain.

Each entry is either a built-in pedalboard effect, ``{effect = "Compressor", ratio = 3.0, ...}``
(the keys are the effect's constructor keywords), or a plug-in file the user has,
``{plugin = "/path/X.vst3", parameters = {name = value}}`` loaded with ``pedalboard.load_plugin``.
The chain runs on the full-rate stem (channels, samples) block by block with ``reset=False``, so
effect state (envelopes, filter memory) carries across the blocks of a streamed separation.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pedalboard

from avpc_plugin.stem_settings.schema import EffectSpec, ParamValue, PresetError, unknown_key_error

PLUGIN_SUFFIXES = (".vst3", ".component")
"""Plug-in files ``pedalboard.load_plugin`` opens (VST3 everywhere, Audio Units on macOS)."""

_NOT_EFFECTS = frozenset(
    {
        "Plugin",
        "PluginContainer",
        "Pedalboard",
        "Chain",
        "Mix",
        "ExternalPlugin",
        "VST3Plugin",
        "AudioUnitPlugin",
    }
)
"""pedalboard Plugin subclasses that are containers or plug-in hosts (``plugin = ...`` covers
those), not effects one names in a chain."""


@functools.cache
def effect_classes() -> dict[str, type]:
    """Built-in pedalboard effects usable in a post chain: class name -> class."""
    found: dict[str, type] = {}
    for name in dir(pedalboard):
        cls = getattr(pedalboard, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, pedalboard.Plugin)
            and not name.startswith("_")
            and name not in _NOT_EFFECTS
        ):
            found[name] = cls
    return dict(sorted(found.items()))


@functools.cache
def effect_parameters(name: str) -> tuple[str, ...]:
    """Parameter names of a built-in effect (its settable properties)."""
    cls = effect_classes()[name]
    base = {
        key
        for key in dir(pedalboard.Plugin)
        if isinstance(getattr(pedalboard.Plugin, key), property)
    }
    return tuple(
        key
        for key in dir(cls)
        if not key.startswith("_") and isinstance(getattr(cls, key), property) and key not in base
    )


def parse_effect(entry: Any, where: str) -> EffectSpec:
    """Check one ``[[post]]`` table (without building it) and return its :class:`EffectSpec`.

    Raises:
        PresetError: not a table, both or neither of ``effect`` / ``plugin``, an unknown effect or
            parameter (with a close match), a non-scalar value, or a plug-in path that is missing or
            not a plug-in file.
    """
    if not isinstance(entry, Mapping):
        raise PresetError(f'{where}: expected a table such as {{effect = "Gain"}}, got {entry!r}')
    if ("effect" in entry) == ("plugin" in entry):
        raise PresetError(
            f"{where}: expected exactly one of 'effect' (a pedalboard effect) or "
            "'plugin' (a VST3 / Audio Unit path)"
        )
    if "plugin" in entry:
        return _parse_plugin(entry, where)
    name = entry["effect"]
    classes = effect_classes()
    if not isinstance(name, str) or name not in classes:
        raise unknown_key_error(str(name), classes, where, what="effect")
    known = effect_parameters(name)
    params: list[tuple[str, ParamValue]] = []
    for key, value in entry.items():
        if key == "effect":
            continue
        if key not in known:
            raise unknown_key_error(key, known, f"{where}: {name}", what="parameter")
        params.append((key, _scalar(value, f"{where}: {name}.{key}")))
    spec = EffectSpec(effect=name, params=tuple(params))
    _build_effect(spec, where)  # the effect's own type and range checks
    return spec


def _parse_plugin(entry: Mapping[str, Any], where: str) -> EffectSpec:
    extra = sorted(set(entry) - {"plugin", "parameters"})
    if extra:
        raise unknown_key_error(extra[0], ("plugin", "parameters"), where)
    path = entry["plugin"]
    if not isinstance(path, str) or Path(path).suffix.lower() not in PLUGIN_SUFFIXES:
        raise PresetError(
            f"{where}: plugin: expected a path ending in {' or '.join(PLUGIN_SUFFIXES)}, "
            f"got {path!r}"
        )
    if not Path(path).expanduser().exists():
        raise PresetError(f"{where}: plugin: no such plug-in {path!r}")
    parameters = entry.get("parameters", {})
    if not isinstance(parameters, Mapping):
        raise PresetError(f"{where}: parameters: expected a table, got {parameters!r}")
    params = tuple(
        (str(key), _scalar(value, f"{where}: parameters.{key}"))
        for key, value in parameters.items()
    )
    return EffectSpec(plugin=str(Path(path).expanduser()), params=params)


def _scalar(value: Any, where: str) -> ParamValue:
    if isinstance(value, (bool, int, float, str)):
        return value
    raise PresetError(f"{where}: expected a number, bool or string, got {value!r}")


def _build_effect(spec: EffectSpec, where: str) -> Any:
    params = dict(spec.params)
    if spec.effect is not None:
        try:
            return effect_classes()[spec.effect](**params)
        except (TypeError, ValueError) as err:
            first = str(err).splitlines()[0]
            raise PresetError(
                f"{where}: {spec.effect}: invalid parameters {params}: {first}"
            ) from None
    try:
        return pedalboard.load_plugin(str(spec.plugin), parameter_values=params)
    except Exception as err:  # plug-in hosts raise a variety of errors
        raise PresetError(f"{where}: plugin {spec.plugin}: cannot load it: {err}") from None


def build_post_chain(effects: Sequence[EffectSpec], where: str = "post") -> pedalboard.Pedalboard:
    """A fresh pedalboard chain for ``effects`` (new state; one per stem and separation)."""
    return pedalboard.Pedalboard(
        [_build_effect(spec, f"{where}[{i}]") for i, spec in enumerate(effects)]
    )


class PostChain:
    """A stem's post chain applied block by block, effect state carried across blocks.

    Args:
        effects: the chain (see :class:`EffectSpec`); empty passes audio through unchanged.
        sample_rate: Hz of the blocks.
    """

    def __init__(self, effects: Sequence[EffectSpec], sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.board = build_post_chain(effects) if effects else None

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """Process the next ``(channels, samples)`` float32 block; returns the same shape."""
        if self.board is None or block.shape[-1] == 0:
            return block
        out = self.board.process(
            np.ascontiguousarray(block, np.float32), self.sample_rate, reset=False
        )
        if out.shape != block.shape:
            raise RuntimeError(
                f"post chain: returned {out.shape} for a {block.shape} block (plug-ins that change "
                "the length or the channel count are not supported)"
            )
        return out
