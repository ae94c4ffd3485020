"""Camera-like looks of train clips: dtype and shape kept, reproducible per seed, visible."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from avpc_plugin.data import looks


def _picture(side: int = 64) -> np.ndarray:
    """RGBA uint8 (side, side, 4): a coloured disc on transparency."""
    yy, xx = np.mgrid[0:side, 0:side]
    disc = (yy - side / 2) ** 2 + (xx - side / 2) ** 2 < (side / 3) ** 2
    picture = np.zeros((side, side, 4), np.uint8)
    picture[disc] = (200, 120, 40, 255)
    return picture


def _background(side: int = 64) -> np.ndarray:
    return np.full((side, side, 3), 90, np.uint8)


def _frames(side: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    frames = np.zeros((3, side, side, 3), np.uint8)
    frames[:, side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = 230
    return frames + rng.integers(0, 10, size=frames.shape, dtype=np.uint8)


CASES: list[
    tuple[Callable[[np.ndarray, np.random.Generator], np.ndarray], Callable[[], np.ndarray]]
] = [
    (looks.shade_picture, _picture),
    (looks.texture_picture, _picture),
    (looks.add_performer, _picture),
    (looks.clutter_background, _background),
    (looks.motion_blur, _frames),
    (looks.compress_frames, _frames),
    (looks.dress_picture, _picture),
    (looks.dress_background, _background),
    (looks.finish_frames, _frames),
]


@pytest.mark.parametrize(("look", "make"), CASES, ids=[c[0].__name__ for c in CASES])
def test_look_keeps_dtype_and_shape_and_is_reproducible(
    look: Callable[[np.ndarray, np.random.Generator], np.ndarray], make: Callable[[], np.ndarray]
) -> None:
    image = make()
    before = image.copy()
    out = look(image, np.random.default_rng(3))
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(image, before)  # the input is left as it was
    assert np.array_equal(out, look(image, np.random.default_rng(3)))


@pytest.mark.parametrize(
    "look",
    [looks.shade_picture, looks.texture_picture, looks.add_performer, looks.clutter_background],
)
def test_each_look_changes_the_image(
    look: Callable[[np.ndarray, np.random.Generator], np.ndarray],
) -> None:
    image = _background() if look is looks.clutter_background else _picture()
    assert not np.array_equal(look(image, np.random.default_rng(1)), image)


def test_frame_looks_change_the_frames() -> None:
    frames = _frames()
    assert not np.array_equal(looks.motion_blur(frames, np.random.default_rng(1)), frames)
    assert not np.array_equal(looks.compress_frames(frames, np.random.default_rng(1)), frames)


def test_picture_looks_keep_the_background_transparent() -> None:
    picture = _picture()
    for look in (looks.shade_picture, looks.texture_picture):
        assert np.array_equal(look(picture, np.random.default_rng(2))[..., 3], picture[..., 3])


def test_looks_reject_wrong_arrays() -> None:
    with pytest.raises(ValueError, match="RGBA"):
        looks.shade_picture(_background(), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(T, S, S, 3\)"):
        looks.compress_frames(_background(), np.random.default_rng(0))
