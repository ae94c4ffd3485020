"""What to pull out: one :class:`StemQuery` per stem (name, video, crop box, time offset, preset).

The command line writes a stem as ``NAME[=PRESET][@x,y,w,h][+OFFSET]``, e.g.
``violin@0,0,0.5,1`` (left half of the frame), ``cello=default@0.5,0,0.5,1+-0.25`` (right half,
video 0.25 s earlier than the audio); :func:`parse_stem_spec` reads that, turning a preset name
into a :class:`~avpc_plugin.stem_settings.Preset` with the loader its caller gives (the
command line and the engine give :func:`avpc_plugin.presets.load_preset`). A query holds
resolved objects: building one reads no file.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from avpc_plugin.stem_settings import Preset, PresetError
from avpc_plugin.video.decode import Box, check_box

RESERVED_STEM_NAMES = ("residual",)
"""Names the separator uses for its own outputs."""

MAX_STEM_NAME = 100
"""Characters in a stem name at most (it becomes a file name)."""
_NAME = re.compile(rf"[^\W_][\w.-]{{0,{MAX_STEM_NAME - 1}}}")
"""Letters and digits of any script (``violín``, ``二胡``), ``_``, ``.``, ``-``: a file name."""
_SPEC = re.compile(
    r"(?P<name>[^=@+]+)(?:=(?P<preset>[^@+]*))?(?:@(?P<box>[^+]*))?(?:\+(?P<offset>.*))?"
)


@dataclass(frozen=True)
class StemQuery:
    """The visual query for one stem.

    Attributes:
        name: the stem's name (output file name): letters and digits of any script, ``.``, ``_``,
            ``-``, up to 100 characters, in Unicode NFC.
        video: the footage showing the performer; ``None`` means the input file itself (when the
            input is a video container).
        box: normalised crop box ``(x, y, w, h)`` around the performer, or None for the whole frame.
        offset: seconds added to audio times to get video times (``video_t = audio_t + offset``);
            for a stem that watches the input's own video it adds to the container's own sync
            (its audio and video stream start times).
        preset: the stem's settings, a :class:`~avpc_plugin.stem_settings.Preset` (read one by
            name with :func:`avpc_plugin.presets.load_preset`), or None for the Separator's
            ``default_preset``.
    """

    name: str
    video: Path | None = None
    box: Box | None = None
    offset: float = 0.0
    preset: Preset | None = None

    def __post_init__(self) -> None:
        if isinstance(self.name, str):  # one spelling of accented letters: a name, one file
            object.__setattr__(self, "name", unicodedata.normalize("NFC", self.name))
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                f"stem name {self.name!r}: expected up to {MAX_STEM_NAME} letters or digits (any "
                "script), '.', '_' or '-', starting with a letter or digit"
            )
        if self.name.casefold() in RESERVED_STEM_NAMES:
            raise ValueError(f"stem name {self.name!r} is reserved for the separator's own output")
        if self.video is not None:
            object.__setattr__(self, "video", Path(self.video))
        object.__setattr__(self, "box", check_box(self.box, f"stem {self.name!r}: box"))
        try:
            object.__setattr__(self, "offset", float(self.offset))
        except (TypeError, ValueError):
            raise ValueError(
                f"stem {self.name!r}: offset: expected seconds, got {self.offset!r}"
            ) from None
        if self.preset is not None and not isinstance(self.preset, Preset):
            raise PresetError(
                f"stem {self.name!r}: preset: expected a Preset or None, got {self.preset!r} "
                "(avpc_plugin.presets.load_preset reads one by name)"
            )


PresetLoader = Callable[[str], Preset]
"""Turns a preset name into a :class:`~avpc_plugin.stem_settings.Preset` (raising
:class:`~avpc_plugin.stem_settings.PresetError`), e.g. :func:`avpc_plugin.presets.load_preset`."""


def parse_stem_spec(
    spec: str,
    video: str | os.PathLike[str] | None = None,
    load_preset: PresetLoader | None = None,
) -> StemQuery:
    """Read ``NAME[=PRESET][@x,y,w,h][+OFFSET]`` into a :class:`StemQuery` for ``video``, the
    preset read by ``load_preset``.

    Raises:
        ValueError: a malformed spec, box or offset, an unknown or invalid preset, or a preset
            named with no ``load_preset`` (the message quotes the spec).
    """
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        raise ValueError(f"--stem {spec!r}: expected NAME[=PRESET][@x,y,w,h][+OFFSET]")
    box = None
    if match["box"] is not None:
        parts = match["box"].split(",")
        try:
            box = tuple(float(p) for p in parts)
        except ValueError:
            box = None
        if box is None or len(box) != 4:
            raise ValueError(f"--stem {spec!r}: box: expected four numbers x,y,w,h")
    offset = 0.0
    if match["offset"] is not None:
        try:
            offset = float(match["offset"])
        except ValueError:
            raise ValueError(
                f"--stem {spec!r}: offset: expected seconds, e.g. +1.5 or +-0.2"
            ) from None
    try:
        return StemQuery(
            name=match["name"],
            video=Path(video) if video is not None else None,
            box=box,  # type: ignore[arg-type]
            offset=offset,
            preset=_load_named(match["preset"] or None, load_preset),
        )
    except ValueError as err:
        raise ValueError(f"--stem {spec!r}: {err}") from None


def _load_named(name: str | None, load_preset: PresetLoader | None) -> Preset | None:
    if name is None:
        return None
    if load_preset is None:
        raise PresetError(f"preset {name!r}: this caller reads no presets by name")
    return load_preset(name)
