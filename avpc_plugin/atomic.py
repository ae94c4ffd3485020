"""Atomic file writes: a complete temporary file, fsync, then one rename over the final name.

Readers (and a crash at any moment) see either the old file or the new one, never a partial file
under the final name. Every writer of the package that replaces a whole file goes through here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_bytes_atomically(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True
) -> Path:
    """Replace ``path`` with ``data`` atomically; the folder is created if missing.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(f"{target}: already exists (not overwritten)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = write_staged_file(target.parent, target.name, lambda handle: handle.write(data))
    try:
        os.replace(staged, target)
        fsync_directory(target.parent)
    finally:
        staged.unlink(missing_ok=True)
    return target


def write_text_atomically(
    path: str | os.PathLike[str], text: str, *, overwrite: bool = True
) -> Path:
    """:func:`write_bytes_atomically` for UTF-8 text."""
    return write_bytes_atomically(path, text.encode("utf-8"), overwrite=overwrite)


def write_staged_file(folder: Path, stem: str, write: Callable[[IO[bytes]], object]) -> Path:
    """Write through ``write`` into a new hidden temporary file in ``folder``, fsync, return it.

    The caller renames or removes the file; it is removed here if ``write`` fails. A hidden name
    (leading dot, random suffix) keeps it out of listings and away from final-name patterns.
    """
    # Opened with "x" (not mkstemp) so the file gets the usual umask permissions, not 0600.
    staged = folder / f".{stem}.{secrets.token_hex(8)}.tmp"
    handle = open(staged, "xb")  # noqa: SIM115  (closed below; removed on failure)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged


def fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.fsync(descriptor)
    os.close(descriptor)
