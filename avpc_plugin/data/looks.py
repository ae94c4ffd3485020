"""Looks that move clip art toward camera images, applied per train clip with a seeded rng.

:mod:`avpc_plugin.data.motion` already films the picture through a camera with hand-held shake,
a slow zoom, Gaussian lens blur and additive sensor noise. The looks here add what clip art
lacks next to a concert video, at three stages of a clip:

- the picture (RGBA ``uint8 (P, P, 4)``): :func:`shade_picture` (a lighting gradient and a soft
  highlight), :func:`texture_picture` (grain: wood, paper, print), :func:`add_performer` (a
  simple player's body behind the instrument, hands in front);
- the backdrop (RGB ``uint8 (S, S, 3)``): :func:`clutter_background` (out-of-focus stands,
  chairs, lamps and other players' shapes on the stage);
- the frames (RGB ``uint8 (T, S, S, 3)``): :func:`motion_blur` (a directional smear, unlike the
  camera's round blur) and :func:`compress_frames` (JPEG blocking and ringing).

Every function keeps the dtype and shape of its input and draws all its choices from the given
generator, so the same seed gives the same result. :func:`dress_picture`,
:func:`dress_background` and :func:`finish_frames` apply each look with its chance in
:data:`LOOK_CHANCES`, drawing a fixed count of numbers whichever looks are chosen.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

LOOK_CHANCES: dict[str, float] = {
    "shade": 0.6,
    "texture": 0.4,
    "performer": 0.4,
    "clutter": 0.5,
    "motion_blur": 0.3,
    "jpeg": 0.5,
}
"""Chance of each look per train clip."""


def _check_rgba(picture: np.ndarray) -> None:
    if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] != 4:
        raise ValueError(
            f"picture: expected uint8 RGBA (P, P, 4), got {picture.dtype} {picture.shape}"
        )


def _check_frames(frames: np.ndarray) -> None:
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(
            f"frames: expected uint8 RGB (T, S, S, 3), got {frames.dtype} {frames.shape}"
        )


def shade_picture(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light the picture from one side: a linear falloff across it times a soft round highlight.

    Args:
        picture: RGBA ``uint8 (P, P, 4)``.
        rng: draws the light direction, falloff strength and highlight position.

    Returns:
        RGBA ``uint8 (P, P, 4)``; alpha unchanged.
    """
    _check_rgba(picture)
    p = picture.shape[0]
    yy, xx = np.mgrid[0:p, 0:p].astype(np.float32) / p - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    falloff = 1.0 - rng.uniform(0.2, 0.6) * (xx * np.cos(angle) + yy * np.sin(angle) + 0.5)
    cx, cy = (float(v) for v in rng.uniform(-0.3, 0.3, size=2))
    radius = float(rng.uniform(0.15, 0.35))
    highlight = rng.uniform(0.1, 0.4) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2))
    warmth = rng.uniform(0.9, 1.1, size=3).astype(np.float32)  # the light's colour
    rgb = picture[..., :3].astype(np.float32) * (falloff + highlight)[..., None] * warmth
    out = picture.copy()
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    return out


def texture_picture(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grain on the picture's colours: streaks (wood), blotches (paper) or fine print noise.

    Args:
        picture: RGBA ``uint8 (P, P, 4)``.
        rng: draws the kind, scale and strength of the grain.

    Returns:
        RGBA ``uint8 (P, P, 4)``; alpha unchanged.
    """
    _check_rgba(picture)
    p = picture.shape[0]
    kind = int(rng.integers(3))
    cells = int(rng.integers(4, 32))
    noise = rng.standard_normal((cells, cells)).astype(np.float32)
    if kind == 0:  # streaks along a random direction: stretched noise, rotated
        noise = np.repeat(noise[:, :1], cells, axis=1) + 0.3 * noise
        matrix = cv2.getRotationMatrix2D((cells / 2, cells / 2), float(rng.uniform(0, 180)), 1.0)
        noise = np.asarray(
            cv2.warpAffine(noise, matrix, (cells, cells), borderMode=cv2.BORDER_REFLECT),
            dtype=np.float32,
        )
    grain = cv2.resize(
        noise, (p, p), interpolation=cv2.INTER_CUBIC if kind < 2 else cv2.INTER_NEAREST
    )
    strength = rng.uniform(0.04, 0.15)
    rgb = picture[..., :3].astype(np.float32) * (1.0 + strength * grain[..., None])
    out = picture.copy()
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    return out


SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 58, 34),
)  # fmt: skip
"""Head and hand colours of :func:`add_performer`."""


def add_performer(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A simple performer: head and torso behind the instrument, forearms and hands in front.

    The instrument is shrunk to 55-75 % and held in front of the chest; the body is flat
    coloured (clothing and skin tones from ``rng``), like a player seen from the audience.

    Args:
        picture: RGBA ``uint8 (P, P, 4)`` (instrument on transparency).
        rng: draws the sizes, pose and colours.

    Returns:
        RGBA ``uint8 (P, P, 4)``.
    """
    _check_rgba(picture)
    p = picture.shape[0]
    scale = rng.uniform(0.55, 0.75)
    small = max(1, round(p * scale))
    instrument = Image.fromarray(picture, "RGBA").resize((small, small), Image.Resampling.LANCZOS)
    ox, oy = int((p - small) * rng.uniform(0.3, 0.7)), p - small - int(p * rng.uniform(0, 0.05))
    clothes = (*tuple(int(c) for c in rng.uniform(10, 160, size=3)), 255)
    skin = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))] + (255,)
    cx = p * rng.uniform(0.42, 0.58)
    head_r, shoulder_y = p * rng.uniform(0.08, 0.11), p * rng.uniform(0.3, 0.38)
    half = p * rng.uniform(0.18, 0.26)
    body = Image.new("RGBA", (p, p), (0, 0, 0, 0))
    draw = ImageDraw.Draw(body)
    draw.ellipse(
        (cx - head_r, shoulder_y - 2.3 * head_r, cx + head_r, shoulder_y - 0.3 * head_r), fill=skin
    )
    draw.rectangle(
        (cx - 0.35 * head_r, shoulder_y - 0.5 * head_r, cx + 0.35 * head_r, shoulder_y + 1),
        fill=skin,
    )
    draw.polygon(
        [
            (cx - half, shoulder_y),
            (cx + half, shoulder_y),
            (cx + 0.8 * half, p),
            (cx - 0.8 * half, p),
        ],
        fill=clothes,
    )
    body.alpha_composite(instrument, (ox, oy))
    # Forearms from the shoulders to two points on the instrument, hands at their ends.
    alpha = np.asarray(instrument)[..., 3]
    rows, cols = np.nonzero(alpha > 128)
    if rows.size:
        arm = max(2, int(p * rng.uniform(0.035, 0.055)))
        for side in (-1, 1):
            k = int(rng.integers(rows.size))
            hand = (ox + float(cols[k]), oy + float(rows[k]))
            elbow = (cx + side * half * 1.1, (shoulder_y + hand[1]) / 2 + p * 0.05)
            draw.line(
                [(cx + side * half * 0.9, shoulder_y + arm), elbow, hand],
                fill=clothes,
                width=arm,
                joint="curve",
            )
            draw.ellipse((hand[0] - arm, hand[1] - arm, hand[0] + arm, hand[1] + arm), fill=skin)
    return np.asarray(body).copy()


def clutter_background(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A busier stage: music stands, chairs, lamps and other players' dim shapes, out of focus.

    Args:
        background: RGB ``uint8 (S, S, 3)``, e.g. from ``random_background``.
        rng: draws how many things, where, how big, what colour and how blurred.

    Returns:
        RGB ``uint8 (S, S, 3)``.
    """
    if background.dtype != np.uint8 or background.ndim != 3 or background.shape[2] != 3:
        raise ValueError(
            f"background: expected uint8 RGB (S, S, 3), got {background.dtype} {background.shape}"
        )
    s = background.shape[0]
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 10))):
        kind = int(rng.integers(4))
        x, y, size = rng.uniform(0, 1) * s, rng.uniform(0.3, 1.0) * s, rng.uniform(0.08, 0.3) * s
        colour = tuple(int(c) for c in rng.uniform(0, 200, size=3))
        w = max(1, int(size / 12))
        if kind == 0:  # a music stand: a pole and a tilted desk
            draw.line([(x, y), (x, y - size)], fill=colour, width=w)
            draw.polygon(
                [
                    (x - size / 3, y - size),
                    (x + size / 3, y - size),
                    (x + size / 4, y - 1.4 * size),
                    (x - size / 4, y - 1.4 * size),
                ],
                fill=colour,
            )
        elif kind == 1:  # a chair: seat, back and legs
            draw.rectangle(
                (x - size / 3, y - size / 2, x + size / 3, y - size / 2 + w * 2), fill=colour
            )
            draw.rectangle((x + size / 3 - w * 2, y - size, x + size / 3, y), fill=colour)
            draw.line([(x - size / 3, y - size / 2), (x - size / 3, y)], fill=colour, width=w)
        elif kind == 2:  # a lamp: bright disc with a halo
            bright = tuple(int(c) for c in rng.uniform(180, 255, size=3))
            draw.ellipse(
                (x - size / 4, y - size - size / 4, x + size / 4, y - size + size / 4), fill=bright
            )
        else:  # another player, far away: head and shoulders
            draw.ellipse((x - size / 6, y - size, x + size / 6, y - size * 2 / 3), fill=colour)
            draw.rounded_rectangle(
                (x - size / 3, y - size * 2 / 3, x + size / 3, y), radius=size / 6, fill=colour
            )
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 3.0)) * s / 256))
    return np.asarray(image).copy()


def motion_blur(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A directional smear (moving camera or slow shutter), one direction per clip.

    Args:
        frames: RGB ``uint8 (T, S, S, 3)``.
        rng: draws the smear length (2-4 % of the frame) and angle.

    Returns:
        RGB ``uint8 (T, S, S, 3)``.
    """
    _check_frames(frames)
    length = max(3, int(frames.shape[1] * rng.uniform(0.02, 0.04)) | 1)
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2] = 1.0 / length
    matrix = cv2.getRotationMatrix2D(
        (length / 2 - 0.5, length / 2 - 0.5), float(rng.uniform(0, 180)), 1.0
    )
    kernel = np.asarray(cv2.warpAffine(kernel, matrix, (length, length)), dtype=np.float32)
    kernel /= max(float(kernel.sum()), 1e-6)
    return np.stack(
        [cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REFLECT) for frame in frames]
    )


def compress_frames(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """JPEG-compress every frame at one quality (10-60) per clip: blocking and ringing.

    Args:
        frames: RGB ``uint8 (T, S, S, 3)``.
        rng: draws the quality.

    Returns:
        RGB ``uint8 (T, S, S, 3)``.
    """
    _check_frames(frames)
    quality = int(rng.integers(10, 61))
    out = np.empty_like(frames)
    for k, frame in enumerate(frames):
        ok, data = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("compress_frames: JPEG encoding failed")
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if decoded is None:
            raise RuntimeError("compress_frames: JPEG decoding failed")
        out[k] = decoded[..., ::-1]
    return out


def _apply(
    looks: tuple[str, ...], image: np.ndarray, rng: np.random.Generator, funcs: dict
) -> np.ndarray:
    """Apply each of ``looks`` with its chance, each from its own generator seeded from ``rng``
    (so ``rng`` draws the same count of numbers whichever looks are chosen)."""
    chances = rng.random(len(looks))
    seeds = rng.integers(0, 2**63, size=len(looks))
    for name, chance, seed in zip(looks, chances, seeds, strict=True):
        if chance < LOOK_CHANCES[name]:
            image = funcs[name](image, np.random.default_rng(int(seed)))
    return image


def dress_picture(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shading, texture and a performer, each with its chance: RGBA ``uint8 (P, P, 4)``."""
    funcs = {"shade": shade_picture, "texture": texture_picture, "performer": add_performer}
    return _apply(("shade", "texture", "performer"), picture, rng, funcs)


def dress_background(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Clutter with its chance: RGB ``uint8 (S, S, 3)``."""
    return _apply(("clutter",), background, rng, {"clutter": clutter_background})


def finish_frames(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Motion blur, then JPEG compression, each with its chance: RGB ``uint8 (T, S, S, 3)``."""
    funcs = {"motion_blur": motion_blur, "jpeg": compress_frames}
    return _apply(("motion_blur", "jpeg"), frames, rng, funcs)
