"""Where stems go: output file names from a template such as ``{track}/{stem}.{ext}``.

Writing itself is atomic (:class:`avpc_plugin.audio.io.AtomicAudioWriter`): a stem appears under
its final name only once it is complete.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from pathlib import Path

DEFAULT_TEMPLATE = "{track}/{stem}.{ext}"
"""Default output template: one folder per input track, one file per stem."""
TEMPLATE_FIELDS = ("track", "stem", "ext")
"""Fields a template may use: the input's file name without extension, the stem name, the
format's extension."""


MAX_NAME_BYTES = 255
"""Longest file or folder name most file systems take (bytes)."""


class TemplateEscapeError(ValueError):
    """A template that leads outside the output folder (absolute, or with ``..``)."""


def check_template(template: str) -> str:
    """Return ``template`` if it uses only known fields and names a file per stem.

    Raises:
        ValueError: an unknown or malformed field, a field with a conversion or format spec, or
            no ``{stem}`` (stems would overwrite each other).
    """
    try:
        parsed = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as err:
        raise ValueError(f"--template {template!r}: {err}") from None
    fields = {name for name, _, _ in parsed}
    if any(spec or conversion for _, spec, conversion in parsed):
        raise ValueError(
            f"--template {template!r}: fields take no conversion or format spec ('!r', ':>10'); "
            "write {track}, {stem} and {ext} plainly"
        )
    unknown = sorted(fields - set(TEMPLATE_FIELDS))
    if unknown:
        raise ValueError(
            f"--template {template!r}: unknown field(s) {', '.join(unknown)}; "
            f"known: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
        )
    if "stem" not in fields:
        raise ValueError(f"--template {template!r}: must contain {{stem}}")
    return template


def output_paths(
    out_dir: str | os.PathLike[str],
    template: str,
    track: str,
    stems: Sequence[str],
    ext: str,
) -> dict[str, Path]:
    """Output file of every stem: ``out_dir / template.format(track=..., stem=..., ext=...)``.

    Raises:
        TemplateEscapeError: a template that leaves ``out_dir`` (absolute or ``..``).
        ValueError: a bad template, one whose file does not end in ``.ext`` (the extension picks
            the written format), or a name longer than :data:`MAX_NAME_BYTES`.
    """
    check_template(template)
    root = Path(out_dir)
    paths: dict[str, Path] = {}
    for stem in stems:
        relative = Path(template.format(track=track, stem=stem, ext=ext))
        if relative.is_absolute() or ".." in relative.parts:
            raise TemplateEscapeError(
                f"--template {template!r}: must stay inside the output folder"
            )
        if relative.suffix.lower() not in (f".{ext}", ".aif" if ext == "aiff" else f".{ext}"):
            raise ValueError(
                f"--template {template!r}: gives {relative.name!r}, which does not end in .{ext} "
                "(the file's extension picks the format: end the template with .{ext})"
            )
        long_part = next((p for p in relative.parts if len(os.fsencode(p)) > MAX_NAME_BYTES), None)
        if long_part is not None:
            raise ValueError(
                f"--template {template!r}: {long_part[:40]!r}... is longer than "
                f"{MAX_NAME_BYTES} bytes, too long for a file name"
            )
        paths[stem] = root / relative
    return paths
