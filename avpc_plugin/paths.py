"""Where avpc-plugin looks for things: the source checkout, the user's XDG folders, search paths.

No absolute path is hard-coded: user folders follow the XDG base-directory variables, shipped
folders sit next to the package in a source checkout, and every search path starts with an
environment variable the user controls.
"""

from __future__ import annotations

import os
from pathlib import Path

import avpc_plugin


def project_root() -> Path:
    """The source checkout holding the ``avpc_plugin`` package (with ``models/``, ``presets/``)."""
    return Path(avpc_plugin.__file__).resolve().parent.parent


def _xdg_dir(variable: str, default: tuple[str, ...]) -> Path:
    return Path(os.environ.get(variable) or Path.home().joinpath(*default)) / "avpc"


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/avpc``, by default ``~/.local/share/avpc``."""
    return _xdg_dir("XDG_DATA_HOME", (".local", "share"))


def user_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/avpc``, by default ``~/.config/avpc``."""
    return _xdg_dir("XDG_CONFIG_HOME", (".config",))


def user_state_dir() -> Path:
    """``$XDG_STATE_HOME/avpc``, by default ``~/.local/state/avpc`` (logs)."""
    return _xdg_dir("XDG_STATE_HOME", (".local", "state"))


def search_path(env_variable: str, *defaults: Path) -> list[Path]:
    """Folders in precedence order: those in ``$env_variable`` (os.pathsep-separated), then
    ``defaults``; duplicates keep their first place."""
    from_env = [Path(part) for part in os.environ.get(env_variable, "").split(os.pathsep) if part]
    folders: list[Path] = []
    for folder in [*from_env, *defaults]:
        if folder not in folders:
            folders.append(folder)
    return folders
