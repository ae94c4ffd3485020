"""Writing presets back to TOML (``avpc presets new`` / ``tune``): a small writer for the preset
schema's value types (strings, numbers incl. ``inf``, bools, flat tables, ``[[post]]`` lists)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path

from avpc_plugin.atomic import write_text_atomically
from avpc_plugin.presets.loader import PRESET_SUFFIX, check_preset_name
from avpc_plugin.stem_settings.schema import SECTION_RULES, EffectSpec, ParamValue, Preset


def toml_value(value: ParamValue) -> str:
    """One TOML scalar: ``true``, ``3``, ``0.25``, ``inf``, ``"text"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return json.dumps(value)  # TOML basic strings take JSON's escapes


def _effect_lines(spec: EffectSpec) -> list[str]:
    lines = ["[[post]]"]
    if spec.effect is not None:
        lines.append(f"effect = {toml_value(spec.effect)}")
        lines += [f"{key} = {toml_value(value)}" for key, value in spec.params]
    else:
        lines.append(f"plugin = {toml_value(spec.plugin or '')}")
        inline = ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in spec.params)
        lines.append(f"parameters = {{ {inline} }}" if inline else "parameters = {}")
    return lines


def preset_to_toml(preset: Preset, header: str = "", inherits: str | None = None) -> str:
    """Every setting of ``preset`` as a self-contained TOML document.

    Args:
        preset: the resolved preset.
        header: comment lines put on top (without ``#``).
        inherits: written as ``inherits`` (None: left out, so the file inherits ``default`` but
            sets every key itself, except an empty post chain, written as ``post = []``).
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines.append(f"description = {toml_value(preset.description)}")
    if inherits is not None:
        lines.append(f"inherits = {toml_value(inherits)}")
    if not preset.post:
        lines.append("post = []")
    for section in SECTION_RULES:
        lines += ["", f"[{section}]"]
        values = asdict(getattr(preset, section))
        lines += [f"{key} = {toml_value(values[key])}" for key in SECTION_RULES[section]]
    for spec in preset.post:
        lines += ["", *_effect_lines(spec)]
    if preset.tuned:
        lines += ["", "[tuned]", *(f"{k} = {toml_value(v)}" for k, v in preset.tuned)]
    return "\n".join(lines) + "\n"


def child_preset_toml(name: str, parent: Preset) -> str:
    """A new preset ``name`` that inherits ``parent``, its settings listed as comments to edit."""
    body = preset_to_toml(parent, inherits=None).splitlines()
    commented = [
        f"# {line}" if line and not line.startswith("#") else line
        for line in body
        if not line.startswith(("description", "post = []"))
    ]
    head = [
        f"description = {toml_value(f'{name} (from {parent.name})')}",
        f"inherits = {toml_value(parent.name)}",
        "",
        f"# Everything below is what {parent.name!r} sets now; uncomment and change what you need.",
        "# A [[post]] list here replaces the parent's whole chain.",
    ]
    return "\n".join(head + commented) + "\n"


def write_preset_text(
    text: str, folder: str | os.PathLike[str], name: str, overwrite: bool
) -> Path:
    """Write ``text`` as ``folder/name.toml`` (atomically; folder created if missing).

    Raises:
        FileExistsError: the file exists and ``overwrite`` is False.
    """
    check_preset_name(name)
    target = Path(folder) / f"{name}{PRESET_SUFFIX}"
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: already exists (pass --overwrite)")
    return write_text_atomically(target, text)
