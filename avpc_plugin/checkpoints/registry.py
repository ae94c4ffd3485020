"""The model registry: named, verified checkpoints listed in ``index.json`` files.

An index is a folder holding ``index.json``::

    {"models": [{"name": "avpc-synth", "file": "avpc-synth-1a2b3c4d.pt", "sha256": "<64 hex>",
                 "arch": "avpc", "parameters": 11910290, "size_bytes": 23962603,
                 "description": "...", "card": "cards/avpc-synth.md", "default": true}]}

``file`` and ``card`` are relative to the index folder. ``parameters`` (the net's parameter count,
null when it could not be built) and ``size_bytes`` (the file's size) are what ``avpc models
list`` shows, so listing reads no checkpoint; indexes written before they existed lack them and
still load. Indexes are searched in this order, and the
first one to list a name wins:

1. the folders in ``$AVPC_MODELS_PATH`` (separated by ``os.pathsep``),
2. the user data folder, ``$XDG_DATA_HOME/avpc/models`` (default ``~/.local/share/avpc/models``),
3. the project's own ``models/`` folder next to the package (source checkout, editable install).

Reading indexes, looking models up and verifying their hashes imports no torch; only
``load_model`` and ``register_model``, which read checkpoints, load it.
"""

from __future__ import annotations

import difflib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avpc_plugin.atomic import write_bytes_atomically
from avpc_plugin.checkpoints.files import (
    RUN_STATE_FILE,
    CheckpointError,
    check_file_hash,
    hash_in_file_name,
    run_checkpoint,
    sha256_file,
    validate_name,
)
from avpc_plugin.paths import project_root, search_path, user_data_dir

if TYPE_CHECKING:
    import torch

    from avpc_plugin.checkpoints.format import LoadedCheckpoint

INDEX_FILE_NAME = "index.json"
MODELS_PATH_ENV = "AVPC_MODELS_PATH"

_ENTRY_KEYS = (
    "name",
    "file",
    "sha256",
    "arch",
    "parameters",
    "size_bytes",
    "description",
    "card",
    "default",
)


class RegistryError(Exception):
    """An index.json that cannot be read or updated, or a listed model file that is missing."""


class RegistryWarning(UserWarning):
    """A registration that changes which model a name finds (one index hides another's)."""


@dataclass(frozen=True)
class ModelEntry:
    """One model listed in an index.

    Attributes:
        name: the model's registry name.
        file: absolute path of its checkpoint file.
        sha256: full hex sha256 the file must have.
        arch: registered net name.
        description: one line for listings.
        card: absolute path of its markdown model card, or None.
        default: whether this is the default model of its index.
        index: the index.json that lists it.
        parameters: the net's parameter count as registered, or None (an index written before
            the count was recorded, or a net that could not be built then).
        size_bytes: the file's size as registered, or None (an older index).
    """

    name: str
    file: Path
    sha256: str
    arch: str
    description: str
    card: Path | None
    default: bool
    index: Path
    parameters: int | None = None
    size_bytes: int | None = None


# ------------------------------------------------------------------------------------ search path


def user_models_dir() -> Path:
    """The per-user index folder: ``$XDG_DATA_HOME/avpc/models``, by default
    ``~/.local/share/avpc/models``."""
    return user_data_dir() / "models"


def project_models_dir() -> Path:
    """The ``models/`` folder of a source checkout (next to the ``avpc_plugin`` package)."""
    return project_root() / "models"


def index_search_path() -> list[Path]:
    """Index folders in precedence order (``$AVPC_MODELS_PATH``, user folder, project folder)."""
    return search_path(MODELS_PATH_ENV, user_models_dir(), project_models_dir())


# ------------------------------------------------------------------------------------------ lookup


def list_models() -> list[ModelEntry]:
    """All registered models; on a name clash the entry from the earlier index wins."""
    winners: dict[str, ModelEntry] = {}
    for folder in index_search_path():
        index = folder / INDEX_FILE_NAME
        if index.is_file():
            for entry in read_index(index):
                winners.setdefault(entry.name, entry)
    return list(winners.values())


def default_model() -> ModelEntry | None:
    """The default model of the first index that marks one, or None."""
    return next((entry for entry in list_models() if entry.default), None)


def find_model(name: str) -> ModelEntry:
    """The registered model called ``name``.

    Raises:
        KeyError: unknown name; the message lists the known names and suggests a close one.
    """
    entries = {entry.name: entry for entry in list_models()}
    if name in entries:
        return entries[name]
    known = ", ".join(sorted(entries)) or "(none registered)"
    close = difflib.get_close_matches(name, list(entries), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    folders = ", ".join(str(folder) for folder in index_search_path())
    raise KeyError(
        f"unknown model {name!r}{hint} (known models: {known}; searched {folders}: a model "
        f"registered elsewhere is found when its folder is in ${MODELS_PATH_ENV})"
    )


def resolve_model(name_or_path: str | os.PathLike[str]) -> Path:
    """The checkpoint file for a registry name, a path to a ``.pt`` file or a training run folder.

    An existing file is used as is, a run folder (``avpc train``'s ``out_dir``) gives its best
    checkpoint; anything else is looked up by name.

    Raises:
        FileNotFoundError: the argument looks like a path (``.pt`` suffix or a folder separator),
            no such file exists and no model has that name; or a run folder without a checkpoint.
        KeyError: unknown name (the message suggests a close one).
    """
    found = lookup_model(name_or_path)
    return found.file if isinstance(found, ModelEntry) else found


def verify_model(entry: ModelEntry) -> None:
    """Check the model's file exists and its full sha256 matches the index.

    Raises:
        RegistryError: the file is missing.
        CheckpointError: the file's hash differs (corrupted or modified).
    """
    _require_file(entry)
    check_file_hash(entry.file, sha256_file(entry.file), entry.sha256)


def load_model(
    name_or_path: str | os.PathLike[str], device: str | torch.device | None = None
) -> LoadedCheckpoint:
    """Load a registered model (full sha256 checked against its index) or a checkpoint file.

    Args:
        name_or_path: a registry name or a path to a checkpoint file.
        device: ``None`` / ``"auto"`` (CUDA when present), or a device name; see ``resolve_device``.

    Returns:
        The net in eval mode on the device, with its metadata.

    Raises:
        KeyError / FileNotFoundError: as ``resolve_model``.
        RegistryError: a registered model whose file is missing.
        CheckpointError: a modified, corrupted or unloadable checkpoint.
    """
    from avpc_plugin.checkpoints.format import (  # deferred: torch, only to load a checkpoint
        load_checkpoint,
    )
    from avpc_plugin.device import resolve_device  # deferred: torch, only to load a checkpoint

    target = resolve_device(device)
    found = lookup_model(name_or_path)
    if isinstance(found, ModelEntry):
        _require_file(found)
        return load_checkpoint(found.file, map_location=target, expected_sha256=found.sha256)
    return load_checkpoint(found, map_location=target)


def lookup_model(name_or_path: str | os.PathLike[str]) -> Path | ModelEntry:
    """An existing file as is, a training run folder's best checkpoint, else the registered model
    of that name (errors as resolve_model)."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    if (candidate / RUN_STATE_FILE).is_file():
        return run_checkpoint(candidate)
    text = os.fspath(name_or_path)
    try:
        return find_model(text)
    except KeyError:
        if candidate.suffix == ".pt" or len(candidate.parts) > 1:
            raise FileNotFoundError(
                f"no checkpoint file {text!r} (and no registered model of that name)"
            ) from None
        raise


def _require_file(entry: ModelEntry) -> None:
    if not entry.file.is_file():
        raise RegistryError(
            f"model {entry.name!r}: file {entry.file} listed in {entry.index} is missing"
        )


# ------------------------------------------------------------------------------------ index files


def read_index(index: str | os.PathLike[str]) -> list[ModelEntry]:
    """Parse one ``index.json`` into entries with absolute paths.

    Raises:
        RegistryError: unreadable JSON, or an entry with a missing or ill-typed key (named).
    """
    index_path = Path(index)
    raw = _read_index_json(index_path)
    entries: list[ModelEntry] = []
    for position, item in enumerate(raw["models"]):
        entry = _entry_from_json(index_path, position, item)
        if any(seen.name == entry.name for seen in entries):
            raise RegistryError(f"{index_path}: model name {entry.name!r} is listed twice")
        entries.append(entry)
    return entries


def register_model(
    checkpoint_path: str | os.PathLike[str],
    index_dir: str | os.PathLike[str],
    description: str,
    card: str | os.PathLike[str] | None = None,
    default: bool = False,
    name: str | None = None,
) -> ModelEntry:
    """Add (or update) a checkpoint in ``index_dir/index.json``, written atomically.

    Args:
        checkpoint_path: a checkpoint file (verified and read for its arch and full hash).
        index_dir: the index folder (created if missing); paths are stored relative to it.
        description: one line for listings.
        card: optional markdown model card.
        default: make this the index's default model (clears the flag on the others).
        name: registry name; default: the file name without ``-<sha8>.pt``.

    Returns:
        The new entry, with the net's parameter count and the file's size (what ``avpc models
        list`` shows). An entry of the same name is replaced in place.

    Raises:
        CheckpointError: the checkpoint is missing, modified or unreadable.
        RegistryError: the existing index is malformed, or the card is missing.
        ValueError: a bad name.

    Warns:
        RegistryWarning: a name new to this index that another index on the search path
            registers too: the new entry hides it (from an index earlier on the path), or is
            hidden by it (from a later one).
    """
    from avpc_plugin.checkpoints.format import (  # deferred: torch, only to read the checkpoint
        count_parameters,
        read_checkpoint_metadata,
    )

    checkpoint = Path(checkpoint_path).resolve()
    metadata = read_checkpoint_metadata(checkpoint, verify=True)
    try:
        parameters: int | None = count_parameters(metadata.arch, metadata.config)
    except CheckpointError:  # a net this machine cannot build: listed with "?" parameters
        parameters = None
    folder = Path(index_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / INDEX_FILE_NAME
    card_path = Path(card).resolve() if card is not None else None
    if card_path is not None and not card_path.is_file():
        raise RegistryError(f"model card {card_path} does not exist")

    record: dict[str, Any] = {
        "name": validate_name(name if name is not None else _default_name(checkpoint)),
        "file": _relative_posix(checkpoint, folder),
        "sha256": metadata.sha256,
        "arch": metadata.arch,
        "parameters": parameters,
        "size_bytes": metadata.size_bytes,
        "description": description,
        "card": _relative_posix(card_path, folder) if card_path is not None else None,
        "default": default,
    }
    records = _read_index_json(index_path)["models"] if index_path.is_file() else []
    if default:
        for other in records:
            other["default"] = False
    positions = [i for i, other in enumerate(records) if other.get("name") == record["name"]]
    if positions:
        records[positions[0]] = record
    else:
        records.append(record)
    text = json.dumps({"models": records}, indent=2) + "\n"
    write_bytes_atomically(index_path, text.encode("utf-8"))
    if not positions:  # a new name here (an update changes nothing about who hides whom)
        _warn_about_namesakes(record["name"], folder)
    return _entry_from_json(index_path, positions[0] if positions else len(records) - 1, record)


def _warn_about_namesakes(name: str, folder: Path) -> None:
    """Warn when an index on the search path other than ``folder`` registers ``name`` too."""
    path = [f.resolve() for f in index_search_path()]
    if folder not in path:
        return  # not found by name from here anyway
    holders = []
    for other in path:
        index = other / INDEX_FILE_NAME
        if other == folder or not index.is_file():
            continue
        try:
            if any(entry.name == name for entry in read_index(index)):
                holders.append((path.index(other), index))
        except RegistryError:
            continue
    here = path.index(folder)
    earlier = [index for position, index in holders if position < here]
    later = [index for position, index in holders if position > here]
    if earlier:
        message = (
            f"model {name!r} in {folder} is hidden by the model of that name in {earlier[0]}, "
            f"which comes first on the search path: `--model {name}` does not find it"
        )
    elif later:
        message = (
            f"model {name!r} in {folder} now hides the model of that name in "
            f"{', '.join(map(str, later))} (`--model {name}` finds this one, and so does a "
            "default by that name); register it under another name to keep both reachable"
        )
    else:
        return
    warnings.warn(message, RegistryWarning, stacklevel=3)


def _default_name(checkpoint: Path) -> str:
    """``foo-1a2b3c4d.pt`` -> ``foo``; other names lose only their suffix."""
    if hash_in_file_name(checkpoint) is not None:
        return checkpoint.name[: -len("-12345678.pt")]
    return checkpoint.stem


def _relative_posix(path: Path, folder: Path) -> str:
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        raise RegistryError(
            f"{path} cannot be referenced relative to the index in {folder}"
        ) from None


def _read_index_json(index_path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RegistryError(f"{index_path}: unreadable model index ({err})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise RegistryError(f'{index_path}: expected a JSON object {{"models": [...]}}')
    return raw


def _entry_from_json(index_path: Path, position: int, item: Any) -> ModelEntry:
    where = f"{index_path}: models[{position}]"
    if not isinstance(item, dict):
        raise RegistryError(f"{where}: expected an object, got {type(item).__name__}")
    for key in ("name", "file", "sha256", "arch"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise RegistryError(f"{where}: missing or empty string key {key!r}")
    unknown = sorted(set(item) - set(_ENTRY_KEYS))
    if unknown:
        raise RegistryError(f"{where}: unknown keys {unknown} (expected {list(_ENTRY_KEYS)})")
    sha256 = item["sha256"].lower()
    if len(sha256) != 64 or any(char not in "0123456789abcdef" for char in sha256):
        raise RegistryError(f"{where}: 'sha256' must be 64 hex digits, got {item['sha256']!r}")
    card = item.get("card")
    if card is not None and not isinstance(card, str):
        raise RegistryError(f"{where}: 'card' must be a relative path string or null")
    if not isinstance(item.get("default", False), bool):
        raise RegistryError(f"{where}: 'default' must be true or false")
    for key in ("parameters", "size_bytes"):
        value = item.get(key)
        if value is not None and (type(value) is not int or value < 0):
            raise RegistryError(f"{where}: {key!r} must be a whole number >= 0 or null")
    folder = index_path.parent
    return ModelEntry(
        name=item["name"],
        file=folder / item["file"],
        sha256=sha256,
        arch=item["arch"],
        description=str(item.get("description", "")),
        card=folder / card if card else None,
        default=item.get("default", False),
        index=index_path,
        parameters=item.get("parameters"),
        size_bytes=item.get("size_bytes"),
    )
