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


def check_template(template: str) -> str:
    """Return ``template`` if it uses only known fields and names a file per stem.

    Raises:
        ValueError: an unknown or malformed field, or no ``{stem}`` (stems would overwrite each
            other).
    """
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as err:
        raise ValueError(f"--template {template!r}: {err}") from None
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
        ValueError: a bad template, or one that leaves ``out_dir`` (absolute or ``..``).
    """
    check_template(template)
    root = Path(out_dir)
    paths: dict[str, Path] = {}
    for stem in stems:
        relative = Path(template.format(track=track, stem=stem, ext=ext))
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"--template {template!r}: must stay inside the output folder")
        paths[stem] = root / relative
    return paths
