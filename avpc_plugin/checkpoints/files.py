"""Checkpoint files as files, without torch: their names, hashes, training run folders, and the
error a bad one raises.

Checkpoints are named ``<name>-<first 8 hex digits of the file's sha256>.pt`` (see
:mod:`~avpc_plugin.checkpoints.format`, which reads and writes them); the model registry keeps the
full hash. Everything here works on bytes and paths (``hashlib``, ``json``), so listing and
verifying models loads no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

RUN_STATE_FILE = "state.json"
"""The state file of a training run folder (``avpc train``'s ``out_dir``); it names the run's best
and last checkpoints, relative to the folder."""

_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HASHED_FILE_NAME = re.compile(r"-(?P<sha8>[0-9a-f]{8})\.pt")
_HASH_CHUNK_BYTES = 1 << 20


class CheckpointError(Exception):
    """A checkpoint file that cannot be written, read, verified or loaded (the message says why)."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Full hex sha256 of a file, read in 1 MiB chunks (constant memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_in_file_name(path: str | os.PathLike[str]) -> str | None:
    """The 8 hex digits of a ``<name>-<sha8>.pt`` file name, or None for other names."""
    match = _HASHED_FILE_NAME.search(Path(path).name)
    return match["sha8"] if match and match.end() == len(Path(path).name) else None


def check_file_hash(path: Path, actual_sha256: str, expected: str) -> None:
    """Raise CheckpointError unless ``actual_sha256`` starts with ``expected`` (8 or 64 hex).

    Args:
        path: the file, for the message.
        actual_sha256: the file's full hex sha256.
        expected: the expected hash or hash prefix (from the file name or a registry index).
    """
    if not actual_sha256.startswith(expected.lower()):
        raise CheckpointError(
            f"{path}: sha256 mismatch, file corrupted or modified "
            f"(expected {expected}, actual {actual_sha256[: len(expected)]})"
        )


def validate_name(name: str) -> str:
    """Return ``name`` if it can start a checkpoint file name, else raise ValueError.

    Allowed: letters, digits, ``-``, ``_`` and ``.``, starting with a letter or digit.
    """
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"checkpoint name {name!r}: expected letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return name


def run_checkpoint(folder: str | os.PathLike[str]) -> Path:
    """A training run folder's best checkpoint (its last epoch checkpoint while none is best).

    Raises:
        FileNotFoundError: ``folder`` is not a run folder (no ``state.json``), or its run has
            written no checkpoint yet (the message names the folder).
    """
    root = Path(folder)
    state_file = root / RUN_STATE_FILE
    if not state_file.is_file():
        raise FileNotFoundError(f"{root} is not a training run folder (no {RUN_STATE_FILE})")
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise FileNotFoundError(f"{state_file}: unreadable run state ({err})") from None
    chosen = state.get("best") or state.get("last") if isinstance(state, dict) else None
    if not chosen:
        raise FileNotFoundError(f"run folder {root} has no checkpoint yet")
    return root / str(chosen)
