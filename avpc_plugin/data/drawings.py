"""Procedural drawings of the 11 instruments, in several styles and many variants.

A drawing is a list of :class:`Shape` primitives on a 100 x 100 canvas (x right, y down), made by
one geometry function per instrument from a variant's random proportions. A style then renders
the same shapes differently: flat fills, shaded fills, line art, a silhouette, a pencil sketch, a
two-tone poster, or dark outlines on pale fills (kept out of training, reserved for a future
wider val set). A variant also draws its palette (wood tone, brass or silver plating, body
colour) and a tilt.

The val split itself draws :func:`draw_val_outline`: the one outline drawing per class it has
always used, kept pixel for pixel so that val figures stay comparable with published ones.

Variant ``k`` of ``(instrument, style)`` is reproducible: its random numbers come from
``numpy.random.default_rng([instrument index, style index, k])``. Every drawing is RGBA ``uint8``
with a transparent background.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from avpc_plugin.data.instruments import INSTRUMENT_NAMES

DrawStyle = Literal["flat", "shaded", "lineart", "silhouette", "sketch", "duotone", "outline"]

TRAIN_STYLES: tuple[DrawStyle, ...] = (
    "flat",
    "shaded",
    "lineart",
    "silhouette",
    "sketch",
    "duotone",
)
"""Drawing styles of the train split."""
VAL_STYLES: tuple[DrawStyle, ...] = ("outline",)
"""Drawing styles held out of training for val. Their variants are reserved for a wider val set:
the val split now draws :func:`draw_val_outline` instead."""
ALL_STYLES: tuple[DrawStyle, ...] = (*TRAIN_STYLES, *VAL_STYLES)

Material = Literal["wood", "dark", "brass", "silver", "light", "accent", "black"]
Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Shape:
    """One primitive of a drawing, in canvas units (0..100).

    ``kind``: ``"ellipse"`` and ``"rect"`` take ``points = ((x0, y0), (x1, y1))`` (``radius``
    rounds a rect's corners); ``"poly"`` a closed polygon; ``"tube"`` a thick polyline of
    ``width``; ``"line"`` a thin detail line (strings, f-holes, pleats) of ``width``.
    """

    kind: Literal["ellipse", "rect", "poly", "tube", "line"]
    material: Material
    points: tuple[tuple[float, float], ...]
    width: float = 1.0
    radius: float = 0.0


def _ellipse(m: Material, x0: float, y0: float, x1: float, y1: float) -> Shape:
    return Shape("ellipse", m, ((x0, y0), (x1, y1)))


def _rect(m: Material, x0: float, y0: float, x1: float, y1: float, radius: float = 0.0) -> Shape:
    return Shape("rect", m, ((x0, y0), (x1, y1)), radius=radius)


def _poly(m: Material, *points: tuple[float, float]) -> Shape:
    return Shape("poly", m, tuple(points))


def _tube(m: Material, width: float, *points: tuple[float, float]) -> Shape:
    return Shape("tube", m, tuple(points), width=width)


def _line(m: Material, width: float, *points: tuple[float, float]) -> Shape:
    return Shape("line", m, tuple(points), width=width)


def _body(
    y0: float, y1: float, upper: float, waist: float, lower: float, cx: float = 50.0
) -> tuple[tuple[float, float], ...]:
    """The outline of a waisted body (violin, cello, guitar) from its half-widths."""
    t = np.linspace(0.0, 1.0, 48)
    knots = [0.0, 0.07, 0.26, 0.48, 0.54, 0.76, 0.93, 1.0]
    widths = [0.45 * upper, 0.85 * upper, upper, waist, waist, lower, 0.85 * lower, 0.45 * lower]
    half = np.convolve(np.pad(np.interp(t, knots, widths), 3, mode="edge"), np.ones(7) / 7, "valid")
    ys = y0 + t * (y1 - y0)
    right = [(cx + w, y) for w, y in zip(half, ys, strict=True)]
    left = [(cx - w, y) for w, y in zip(half[::-1], ys[::-1], strict=True)]
    return tuple(right + left)


Uniform = Callable[[float, float], float]


def _violin_family(u: Uniform, cello: bool) -> list[Shape]:
    top = u(30, 34) if cello else u(36, 40)
    bottom = 88.0 if cello else 97.0
    upper, waist, lower = u(15, 18), u(9, 11), u(18, 21)
    if cello:
        upper, waist, lower = upper * 1.1, waist * 1.05, lower * 1.1
    shapes = [
        _ellipse("wood", 45, 1, 55, 9),
        _rect("dark", 47, 6, 53, 17),
        _rect("wood", 47.5, 12, 52.5, top + 6),
        Shape("poly", "wood", _body(top, bottom, upper, waist, lower)),
        _poly("black", (47.5, 14), (52.5, 14), (54, top + 22), (46, top + 22)),
        _line("black", 1.2, (42, top + 26), (43, top + 36)),
        _line("black", 1.2, (58, top + 26), (57, top + 36)),
        _rect("light", 43, top + 33, 57, top + 35),
        _poly("black", (47, bottom - 20), (53, bottom - 20), (55, bottom - 5), (45, bottom - 5)),
    ]
    shapes += [_line("light", 0.6, (48.5 + k, 15), (47.5 + 1.6 * k, bottom - 19)) for k in range(4)]
    if cello:
        shapes.append(_tube("silver", 1.5, (50, bottom - 5), (50, 99)))
    return shapes


def _acoustic_guitar(u: Uniform) -> list[Shape]:
    top = u(38, 44)
    upper, waist, lower = u(15, 18), u(11, 14), u(20, 24)
    hole_y = top + 0.33 * (98 - top)
    shapes = [
        _rect("dark", 45, 1, 55, 12, radius=2),
        _rect("wood", 46.5, 10, 53.5, top + 8),
        Shape("poly", "wood", _body(top, 98, upper, waist, lower)),
        _ellipse("black", 43, hole_y - 7, 57, hole_y + 7),
        _rect("dark", 42, top + 0.7 * (98 - top), 58, top + 0.7 * (98 - top) + 3),
    ]
    shapes += [_ellipse("silver", x, y, x + 2.4, y + 2.4) for x in (42, 55.6) for y in (3, 7)]
    shapes += [_line("dark", 0.6, (46.5, y), (53.5, y)) for y in np.linspace(16, top + 4, 7)]
    shapes += [
        _line("light", 0.5, (47.5 + 1.0 * k, 11), (47.5 + 1.0 * k, top + 0.72 * (98 - top)))
        for k in range(6)
    ]
    return shapes


def _erhu(u: Uniform) -> list[Shape]:
    box = u(12, 16)
    return [
        _rect("wood", 48, 4, 52, 82),
        _rect("wood", 40, 8, 60, 11),
        _rect("wood", 40, 16, 60, 19),
        _poly(
            "wood",
            (50 - box, 80),
            (50 - box / 2, 76),
            (50 + box / 2, 76),
            (50 + box, 80),
            (50 + box, 92),
            (50 + box / 2, 96),
            (50 - box / 2, 96),
            (50 - box, 92),
        ),
        _ellipse("light", 50 - box + 3, 79, 50 + box - 3, 93),
        _line("light", 0.6, (49.3, 6), (49.3, 84)),
        _line("light", 0.6, (50.7, 6), (50.7, 84)),
        _line("dark", u(1.2, 2.0), (u(10, 20), u(66, 74)), (u(84, 94), u(58, 66))),
    ]


def _clarinet(u: Uniform) -> list[Shape]:
    half = u(4, 6)
    shapes = [
        _rect("black", 50 - half, 8, 50 + half, 82, radius=2),
        _poly(
            "black", (50 - half, 80), (50 + half, 80), (50 + 2.5 * half, 96), (50 - 2.5 * half, 96)
        ),
        _rect("silver", 47, 2, 53, 10),
        _rect("silver", 50 - half - 0.5, 40, 50 + half + 0.5, 43),
    ]
    shapes += [_ellipse("silver", 48, y, 52, y + 4) for y in range(16, 78, 8)]
    shapes += [
        _line("silver", 0.8, (50 + half, y), (50 + half + 2, y + 6)) for y in range(20, 70, 16)
    ]
    return shapes


def _flute(u: Uniform) -> list[Shape]:
    y, w = 50.0, u(2.5, 4)
    shapes = [
        _rect("silver", 4, y - w, 96, y + w, radius=w),
        _ellipse("silver", 10, y - w - 2, 18, y + w + 2),
        _ellipse("black", 12.5, y - 1, 15.5, y + 1),
        _line("dark", 0.6, (28, y - w), (28, y + w)),
        _line("dark", 0.6, (78, y - w), (78, y + w)),
    ]
    shapes += [_ellipse("light", x, y - 2, x + 4, y + 2) for x in np.linspace(36, 86, 8)]
    return shapes


def _saxophone(u: Uniform) -> list[Shape]:
    bell = u(14, 20)
    bow = u(9, 12)
    return [
        _tube("brass", 3, (63, 6), (55, 10), (52, 16)),
        _rect("black", 61, 3, 67, 8, radius=1),
        _poly("brass", (49, 14), (55, 14), (56, 76), (44, 76)),
        _ellipse("brass", 50 - bow, 70, 60 + bow / 2, 96),
        _poly("brass", (56, 88), (64, 86), (50 + bell, 50), (66 - bell / 2, 50)),
        _ellipse("brass", 64 - bell / 2, 46, 52 + bell, 54),
        _ellipse("dark", 66 - bell / 2, 48, 50 + bell, 52),
        *(_ellipse("light", 47, y, 52, y + 5) for y in (26, 35, 44, 53, 62)),
        _line("silver", 0.8, (55, 24), (58, 60)),
    ]


def _trumpet(u: Uniform) -> list[Shape]:
    bell = u(12, 18)
    return [
        _tube("brass", 2.5, (4, 44), (66, 44)),
        _tube("brass", 2.5, (30, 38), (30, 60), (70, 60), (70, 50), (58, 50)),
        _tube("brass", 2.5, (30, 38), (72, 38)),
        _poly("brass", (72, 36), (96, 38 - bell), (96, 38 + bell), (72, 40)),
        _ellipse("brass", 93, 38 - bell, 99, 38 + bell),
        *(_rect("silver", x, 32, x + 5, 62, radius=1) for x in (40, 47, 54)),
        *(_ellipse("light", x - 0.5, 27, x + 5.5, 31) for x in (40, 47, 54)),
        _rect("silver", 2, 42, 8, 46),
    ]


def _tuba(u: Uniform) -> list[Shape]:
    bell = u(22, 28)
    return [
        _rect("brass", 32, 30, 64, 92, radius=12),
        _poly("brass", (34, 14), (62, 14), (58, 34), (38, 34)),
        _ellipse("brass", 48 - bell, 4, 48 + bell, 22),
        _ellipse("dark", 54 - bell, 7, 42 + bell, 17),
        _tube("brass", 4, (64, 44), (80, 50), (80, 70), (64, 76)),
        *(_rect("silver", x, 44, x + 4, 58) for x in (40, 47, 54)),
        _tube("silver", 1.5, (30, 60), (22, 56)),
    ]


def _xylophone(u: Uniform) -> list[Shape]:
    bars = int(u(7, 10))
    shapes = [_poly("dark", (8, 40), (92, 48), (92, 72), (8, 84))]
    step = 82 / bars
    for i in range(bars):
        x = 10 + i * step
        length = 44 - i * 28 / bars
        top = 62 - length / 2
        shapes.append(
            _rect("accent" if i % 2 else "wood", x, top, x + 0.75 * step, top + length, 1.5)
        )
    for x0, x1 in ((u(16, 24), u(40, 48)), (u(56, 64), u(76, 84))):
        shapes += [
            _line("wood", 1.6, (x0, 18), (x1, 44)),
            _ellipse("accent", x0 - 4, 14, x0 + 4, 22),
        ]
    return shapes


def _accordion(u: Uniform) -> list[Shape]:
    spread = u(14, 24)
    left, right = 50 - spread - 14, 50 + spread
    shapes = [
        _rect("accent", left, 22, left + 14, 84, radius=2),
        _rect("light", left + 14, 26, right, 80),
        _rect("accent", right, 22, right + 14, 84, radius=2),
        _rect("light", right + 2, 25, right + 10, 81),
    ]
    shapes += [_line("dark", 0.9, (x, 26), (x, 80)) for x in np.linspace(left + 16, right - 2, 7)]
    shapes += [
        _line("black", 0.6, (right + 2, y), (right + 10, y)) for y in np.linspace(28, 78, 12)
    ]
    shapes += [_rect("black", right + 2, y, right + 7, y + 2) for y in np.linspace(30, 74, 8)]
    shapes += [
        _ellipse(
            "silver",
            left + 3 + 5 * (k % 2),
            28 + 6 * (k // 2),
            left + 6 + 5 * (k % 2),
            31 + 6 * (k // 2),
        )
        for k in range(16)
    ]
    return shapes


GEOMETRY: dict[str, Callable[[Uniform], list[Shape]]] = {
    "accordion": _accordion,
    "acoustic_guitar": _acoustic_guitar,
    "cello": lambda u: _violin_family(u, cello=True),
    "clarinet": _clarinet,
    "erhu": _erhu,
    "flute": _flute,
    "saxophone": _saxophone,
    "trumpet": _trumpet,
    "tuba": _tuba,
    "violin": lambda u: _violin_family(u, cello=False),
    "xylophone": _xylophone,
}
"""One geometry function per instrument: proportions drawn from ``u(low, high)``."""


def _palette(rng: np.random.Generator) -> dict[Material, Colour]:
    """A variant's material colours: wood tone, plating, accent colour."""
    tone = rng.uniform(0.6, 1.3)
    wood = tuple(int(np.clip(c * tone, 0, 255)) for c in (150, 85, 35))
    plated = rng.random() < 0.3
    brass = (
        (200, 200, 210)
        if plated
        else tuple(int(c) for c in rng.uniform([190, 140, 20], [240, 200, 80]))
    )
    hue = rng.uniform(0, 255, size=3)
    accent = tuple(int(c) for c in 40 + 0.8 * hue)
    return {
        "wood": wood,  # type: ignore[dict-item]
        "dark": tuple(int(c * 0.45) for c in wood),  # type: ignore[dict-item]
        "brass": brass,  # type: ignore[dict-item]
        "silver": (190, 190, 200),
        "light": (235, 225, 205),
        "accent": accent,  # type: ignore[dict-item]
        "black": (25, 25, 30),
    }


def _scaled(shape: Shape, s: float, jitter: np.ndarray | None = None) -> list[tuple[float, float]]:
    points = np.asarray(shape.points, dtype=np.float64) * s
    if jitter is not None:
        points = points + jitter[: len(points)]
    return [(float(x), float(y)) for x, y in points]


def _draw(
    draw: ImageDraw.ImageDraw,
    shape: Shape,
    s: float,
    fill: tuple[int, ...] | None,
    line: tuple[int, ...] | None,
    width: int,
    jitter: np.ndarray | None = None,
) -> None:
    """One shape: filled with ``fill`` (None: unfilled), outlined with ``line`` of ``width``."""
    xy = _scaled(shape, s, jitter)
    if shape.kind in ("tube", "line"):
        w = max(1, round(shape.width * s))
        if line is not None and shape.kind == "tube":
            draw.line(xy, fill=line, width=w + 2 * width, joint="curve")
        colour = fill if fill is not None else line
        if colour is not None:
            draw.line(xy, fill=colour, width=w, joint="curve")
        return
    (x0, y0), (x1, y1) = xy[0], xy[-1]
    box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if shape.kind == "ellipse":
        draw.ellipse(box, fill=fill, outline=line, width=width)
    elif shape.kind == "rect":
        draw.rounded_rectangle(box, radius=shape.radius * s, fill=fill, outline=line, width=width)
    else:
        draw.polygon(xy, fill=fill, outline=line, width=width)


def _shading(shapes: list[Shape], s: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """float32 ``(size, size)`` light factors: a linear gradient across each shape's box."""
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    strength = rng.uniform(0.25, 0.5)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    shade = np.ones((size, size), np.float32)
    for shape in shapes:
        if shape.kind == "line":
            continue
        mask = Image.new("L", (size, size), 0)
        _draw(ImageDraw.Draw(mask), shape, s, (255,), None, 0)
        inside = np.asarray(mask) > 0
        if not inside.any():
            continue
        pts = np.asarray(shape.points) * s
        centre, extent = pts.mean(axis=0), max(float(np.ptp(pts, axis=0).max()), 1.0)
        along = ((xx - centre[0]) * direction[0] + (yy - centre[1]) * direction[1]) / extent
        shade[inside] = 1.0 - strength * np.clip(along[inside], -1.0, 1.0)
    return shade


def draw_instrument(instrument: str, style: DrawStyle, variant: int, size: int) -> Image.Image:
    """Variant ``variant`` of ``instrument`` drawn in ``style``: RGBA ``size x size`` (PIL).

    Raises:
        KeyError: unknown instrument.
        ValueError: unknown style or a negative variant.
    """
    if instrument not in GEOMETRY:
        raise KeyError(f"drawing: unknown instrument {instrument!r}")
    if style not in ALL_STYLES:
        raise ValueError(f"drawing: style must be one of {ALL_STYLES}, got {style!r}")
    if variant < 0:
        raise ValueError(f"drawing: variant must be >= 0, got {variant}")
    rng = np.random.default_rng(
        [INSTRUMENT_NAMES.index(instrument), ALL_STYLES.index(style), variant]
    )
    shapes = GEOMETRY[instrument](lambda low, high: float(rng.uniform(low, high)))
    palette = _palette(rng)
    s = size / 100.0
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    ink = (30, 25, 20, 255)
    width = max(1, size // 80)
    if style == "silhouette":
        tone: tuple[int, ...] = (*tuple(int(c) for c in rng.uniform(0, 70, size=3)), 255)
        for shape in shapes:
            _draw(draw, shape, s, tone, None, 0)
    elif style == "lineart":
        for shape in shapes:
            fill = None if shape.kind == "line" else (255, 255, 255, 255)
            _draw(draw, shape, s, fill, ink, width)
    elif style == "sketch":
        pencil = (70, 70, 75, 255)
        for shape in shapes:
            colour = np.asarray(palette[shape.material])
            pale = (*(int(c) for c in 0.35 * colour + 0.65 * 250), 255)
            _draw(draw, shape, s, None if shape.kind == "line" else pale, None, 0)
            for _ in range(2):
                jitter = rng.normal(0, 0.6 * s, size=(len(shape.points), 2))
                _draw(draw, shape, s, None, pencil, max(1, width // 2), jitter)
    elif style == "duotone":
        hue = rng.uniform(0, 255, size=3)
        light, dark = (*(int(c) for c in 150 + 0.4 * hue), 255), (*(int(c) for c in 0.4 * hue), 255)
        for shape in shapes:
            luma = float(np.dot(palette[shape.material], (0.3, 0.59, 0.11)))
            _draw(draw, shape, s, light if luma > 120 else dark, ink, 2 * width)
    else:  # flat, shaded, outline
        outline = style == "outline"
        for shape in shapes:
            colour = np.asarray(palette[shape.material], dtype=np.float64)
            if outline:
                colour = 0.6 * colour + 0.4 * 255
            paint = (*(int(c) for c in colour), 255)
            _draw(draw, shape, s, paint, ink if outline else None, width if outline else 0)
        if style == "shaded":
            pixels = np.asarray(image).astype(np.float32)
            pixels[..., :3] *= _shading(shapes, s, size, rng)[..., None]
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGBA")
    tilt = float(rng.uniform(-25, 25))
    return image.rotate(tilt, resample=Image.Resampling.BICUBIC, expand=True)


def draw_val_outline(instrument: str, size: int) -> Image.Image:
    """The val split's procedural drawing of ``instrument`` (RGBA ``size x size``, PIL).

    The outline drawing the val split has always used (picture source ``procedural:outline``):
    dark outlines on light fills, one fixed drawing per class, pixel for pixel as the published
    val figures were made with, so it is kept apart from :func:`draw_instrument` and must not
    change. Clarinet, erhu, tuba and xylophone have their own shapes; any other class a generic
    body-and-neck silhouette.
    """
    if instrument not in GEOMETRY:
        raise KeyError(f"drawing: unknown instrument {instrument!r}")
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    line = (30, 25, 20, 255)
    width = max(2, size // 64)
    s = size / 100.0

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (x0 * s, y0 * s, x1 * s, y1 * s)

    def poly(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x * s, y * s) for x, y in points]

    wood = (150, 90, 40, 255)
    brass = (235, 200, 90, 255)
    black = (70, 70, 80, 255)
    silver = (220, 220, 230, 255)
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
        draw.arc(box(50, 40, 84, 80), 270, 90, fill=line, width=4 * size // 100)
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
            draw.rounded_rectangle(
                box(x, top, x + 7, top + length),
                radius=1.5 * s,
                fill=(200, 140, 80, 255),
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
