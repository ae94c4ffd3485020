"""Finding, reading and resolving preset files (search path, inheritance, validation).

Preset ``NAME`` is the file ``NAME.toml`` in the first folder of the search path that has one:

1. the folders in ``$AVPC_PRESETS_PATH`` (separated by ``os.pathsep``),
2. the user config folder, ``$XDG_CONFIG_HOME/avpc/presets`` (default ``~/.config/avpc/presets``),
3. the shipped ``presets/`` folder next to the package (beside the model registry's ``models/``).

A preset inherits every setting it does not set from its parent: ``inherits = "NAME"``, or
``default`` when left out (``default`` itself is the root; without any ``default.toml`` the root is
the built-in :class:`~avpc_plugin.presets.schema.Preset` defaults). Tables merge key by key; a
``[[post]]`` chain replaces the parent's chain as a whole (``post = []`` drops it). A file that
inherits its own name (a user's ``violin.toml`` with ``inherits = "violin"``) extends the next
``violin.toml`` further down the search path.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avpc_plugin.paths import project_root, search_path, user_config_dir
from avpc_plugin.stem_settings.post import parse_effect
from avpc_plugin.stem_settings.schema import (
    SECTION_RULES,
    TOP_LEVEL_KEYS,
    EffectSpec,
    ParamValue,
    Preset,
    PresetError,
    build_preset,
    check_sections,
    check_table,
    unknown_key_error,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PRESETS_PATH_ENV = "AVPC_PRESETS_PATH"
DEFAULT_PRESET = "default"
PRESET_SUFFIX = ".toml"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


# ------------------------------------------------------------------------------------ search path


def user_presets_dir() -> Path:
    """The per-user preset folder: ``$XDG_CONFIG_HOME/avpc/presets``, by default
    ``~/.config/avpc/presets``."""
    return user_config_dir() / "presets"


def shipped_presets_dir() -> Path:
    """The project's shipped ``presets/`` folder (in the source checkout)."""
    return project_root() / "presets"


def preset_search_path() -> list[Path]:
    """Preset folders in precedence order (``$AVPC_PRESETS_PATH``, user folder, shipped folder)."""
    return search_path(PRESETS_PATH_ENV, user_presets_dir(), shipped_presets_dir())


def check_preset_name(name: Any, where: str = "preset") -> str:
    """``name`` if it is a valid preset name (letters, digits, ``.``, ``_``, ``-``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PresetError(
            f"{where}: expected a preset name (letters, digits, '.', '_', '-'), got {name!r}"
        )
    return name


def list_presets() -> list[str]:
    """Names of every preset on the search path, sorted (``default`` always included)."""
    names = {DEFAULT_PRESET}
    for folder in preset_search_path():
        if folder.is_dir():
            names.update(
                p.stem for p in folder.glob(f"*{PRESET_SUFFIX}") if _NAME.fullmatch(p.stem)
            )
    return sorted(names)


def find_preset_file(name: str, after: Path | None = None) -> Path | None:
    """The file of preset ``name`` (first on the search path), or None for a missing ``default``.

    Args:
        name: the preset name.
        after: search only the folders after this one (for a file that inherits its own name).

    Raises:
        PresetError: no such preset (the message suggests a close name and lists the known ones).
    """
    check_preset_name(name)
    folders = preset_search_path()
    if after is not None:
        resolved = [f.resolve() for f in folders]
        if after.resolve() in resolved:
            folders = folders[resolved.index(after.resolve()) + 1 :]
    for folder in folders:
        candidate = folder / f"{name}{PRESET_SUFFIX}"
        if candidate.is_file():
            return candidate
    if name == DEFAULT_PRESET:
        return None
    known = list_presets()
    close = difflib.get_close_matches(name, [k for k in known if k != name], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    below = " below " + str(after) if after is not None else ""
    raise PresetError(f"unknown preset {name!r}{below}{hint} (known presets: {', '.join(known)})")


# ------------------------------------------------------------------------------------ loading


def load_preset(name: str) -> Preset:
    """The resolved, validated preset ``name`` from the search path.

    Raises:
        PresetError: unknown name, unreadable file, invalid TOML, an unknown key / effect /
            parameter, a value of the wrong type or out of range, cyclic inheritance. The message
            names the file and the key.
    """
    path = find_preset_file(name)
    return Preset(name=DEFAULT_PRESET) if path is None else load_preset_file(path)


def load_preset_file(path: str | os.PathLike[str]) -> Preset:
    """The resolved, validated preset in ``path`` (named after the file; parents from the path).

    Raises:
        PresetError: as :func:`load_preset`, or a missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise PresetError(f"{path}: no such preset file")
    raw = read_preset_toml(path)
    sections, post = _resolve(path, raw, ())
    name = path.stem
    return build_preset(
        name,
        sections,
        post,
        str(path),
        description=raw.get("description", ""),
        inherits=_parent_name(path, raw),
        source=path,
        tuned=_tuned(raw, str(path)),
    )


def read_preset_toml(path: Path) -> dict[str, Any]:
    """The TOML document in ``path`` with its top-level keys checked."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PresetError(f"{path}: cannot read it: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (Windows editors) is fine
    except UnicodeDecodeError as err:
        raise PresetError(
            f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
            "save it as UTF-8"
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PresetError(f"{path}: not valid TOML: {err}") from None
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise unknown_key_error(key, TOP_LEVEL_KEYS, str(path))
    if not isinstance(raw.get("description", ""), str):
        raise PresetError(f"{path}: description: expected a string, got {raw['description']!r}")
    if "inherits" in raw:
        check_preset_name(raw["inherits"], f"{path}: inherits")
    return raw


def preset_file_errors(path: str | os.PathLike[str]) -> list[str]:
    """Every error of the preset file ``path`` (empty: it loads), not only the first.

    Each top-level key, settings key, ``[[post]]`` entry and ``[tuned]`` value is checked on its
    own; the inheritance chain and the cross-key rules (which need the whole preset) are checked
    once the file's own keys are right.
    """
    path = Path(path)
    if not path.is_file():
        return [f"{path}: no such preset file"]
    try:
        data = path.read_bytes().decode("utf-8-sig")
        raw = tomllib.loads(data)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        try:
            read_preset_toml(path)  # the same failure, worded as when loading
        except PresetError as err:
            return [str(err)]
        raise
    where = str(path)
    errors: list[str] = []

    def check(step: Any, *args: Any) -> None:
        try:
            step(*args)
        except PresetError as err:
            errors.append(str(err))

    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            errors.append(str(unknown_key_error(key, TOP_LEVEL_KEYS, where)))
    if not isinstance(raw.get("description", ""), str):
        errors.append(f"{where}: description: expected a string, got {raw['description']!r}")
    if "inherits" in raw:
        check(check_preset_name, raw["inherits"], f"{where}: inherits")
    for section in SECTION_RULES:
        if section not in raw:
            continue
        if not isinstance(raw[section], Mapping):
            check(check_table, raw[section], f"{where}: [{section}]")
            continue
        for key, value in raw[section].items():
            check(check_sections, {section: {key: value}}, where)
    if isinstance(raw.get("post"), list):
        for index, entry in enumerate(raw["post"]):
            check(parse_effect, entry, f"{where}: post[{index}]")
    else:
        check(_post, raw, where)
    check(_tuned, raw, where)
    if not errors:
        check(load_preset_file, path)  # inheritance, the parents' files, cross-key rules
    return errors


def _parent_name(path: Path, raw: Mapping[str, Any]) -> str | None:
    default = None if path.stem == DEFAULT_PRESET else DEFAULT_PRESET
    parent = raw.get("inherits", default)
    return None if parent is None else str(parent)


def _resolve(
    path: Path, raw: Mapping[str, Any], chain: tuple[tuple[str, Path], ...]
) -> tuple[dict[str, dict[str, Any]], tuple[EffectSpec, ...]]:
    """Merged settings tables and post chain of ``path`` and its ancestors."""
    where = str(path)
    sections = check_sections(raw, where)
    post = _post(raw, where)
    _tuned(raw, where)  # checked in every file, used only in the leaf
    parent = _parent_name(path, raw)
    if parent is None:
        return sections, post if post is not None else ()
    chain = (*chain, (path.stem, path.resolve()))
    try:
        parent_path = find_preset_file(parent, after=path.parent if parent == path.stem else None)
    except PresetError as err:
        if parent == path.stem:  # extends its namesake further down the path, and there is none
            raise PresetError(
                f"{path}: inherits itself ({parent!r}): a preset that inherits its own name "
                f"extends the next {parent}{PRESET_SUFFIX} further down the search path, and "
                f"there is none below {path.parent}; inherit another preset (or leave inherits "
                "out for 'default')"
            ) from None
        raise PresetError(f"{path}: inherits: {err}") from None
    if parent_path is None:  # no default.toml anywhere: the built-in defaults
        return sections, post if post is not None else ()
    if any(parent_path.resolve() == seen for _, seen in chain):
        names = " -> ".join([*(name for name, _ in chain), parent])
        raise PresetError(f"{where}: inherits: inheritance loop {names}")
    parent_sections, parent_post = _resolve(parent_path, read_preset_toml(parent_path), chain)
    merged = {
        section: {**parent_sections.get(section, {}), **sections.get(section, {})}
        for section in SECTION_RULES
    }
    return merged, post if post is not None else parent_post


def _post(raw: Mapping[str, Any], where: str) -> tuple[EffectSpec, ...] | None:
    if "post" not in raw:
        return None
    entries = raw["post"]
    if not isinstance(entries, list):
        raise PresetError(f"{where}: post: expected a list of [[post]] tables, got {entries!r}")
    return tuple(parse_effect(entry, f"{where}: post[{i}]") for i, entry in enumerate(entries))


def _tuned(raw: Mapping[str, Any], where: str) -> tuple[tuple[str, ParamValue], ...]:
    table = check_table(raw.get("tuned", {}), f"{where}: [tuned]")
    for key, value in table.items():
        if not isinstance(value, (bool, int, float, str)):
            raise PresetError(f"{where}: tuned.{key}: expected a number or string, got {value!r}")
    return tuple(table.items())
