"""Training frame restyling: shapes, reproducibility, one look per source, the style shares."""

from __future__ import annotations

import numpy as np
import pytest

from avpc_plugin.data.frames import GRAYSCALE_P, LINE_DRAWING_P, restyle_frames


def _colourful_frames(frames: int = 3, side: int = 32) -> np.ndarray:
    """uint8 (3, T, side, side): a red-green ramp with a blue square, the same in every frame."""
    ramp = np.linspace(0, 255, side)
    image = np.stack(
        [
            np.broadcast_to(ramp, (side, side)),
            np.broadcast_to(ramp[:, None], (side, side)),
            np.zeros((side, side)),
        ]
    )
    image[2, 8:24, 8:24] = 220
    return np.repeat(image[:, None], frames, axis=1).astype(np.uint8)


def test_restyle_keeps_the_layout_and_is_reproducible() -> None:
    frames = _colourful_frames()
    out = restyle_frames(frames, np.random.default_rng(5))
    assert out.shape == frames.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.array_equal(out, restyle_frames(frames, np.random.default_rng(5)))
    # One look per source: identical input frames stay identical to each other.
    for seed in range(20):
        styled = restyle_frames(frames, np.random.default_rng(seed))
        assert all(np.array_equal(styled[:, 0], styled[:, t]) for t in (1, 2))


def test_restyle_styles_come_in_the_documented_shares() -> None:
    frames = _colourful_frames(frames=1)
    counts = {"gray": 0, "lines": 0, "colour": 0}
    trials = 400
    for seed in range(trials):
        out = restyle_frames(frames, np.random.default_rng(seed))
        if set(np.unique(out)) <= {0, 255} and (out == 0).any():
            counts["lines"] += 1
        elif np.array_equal(out[0], out[1]) and np.array_equal(out[1], out[2]):
            counts["gray"] += 1
        else:
            counts["colour"] += 1
    # Binomial standard deviation at n = 400, p = 0.2 is 0.02: allow 3 of them.
    assert abs(counts["gray"] / trials - GRAYSCALE_P) < 0.06
    assert abs(counts["lines"] / trials - LINE_DRAWING_P) < 0.06
    assert counts["colour"] > 0.5 * trials


def test_restyle_rejects_other_layouts() -> None:
    with pytest.raises(ValueError, match=r"frames: expected uint8 \(3, T, H, W\)"):
        restyle_frames(np.zeros((3, 32, 32), dtype=np.uint8), np.random.default_rng(0))
    with pytest.raises(ValueError, match="frames"):
        restyle_frames(np.zeros((3, 1, 8, 8), dtype=np.float32), np.random.default_rng(0))
