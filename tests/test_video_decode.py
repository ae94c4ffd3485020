"""Frame decoding at timestamps, crop boxes and time offsets, on a generated test video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_video import (
    FPS,
    HEIGHT,
    WIDTH,
    digit_levels,
    frame_index_of,
    index_from_levels,
    make_marker_video,
    unnormalise,
)

from avpc_plugin.video.decode import (
    VideoError,
    VideoReader,
    VideoTooShortError,
    check_box,
    decode_frames,
    preprocess_frames,
    probe_video,
)


@pytest.fixture(scope="module")
def marker_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_marker_video(tmp_path_factory.mktemp("video") / "marker.mp4")


def test_probe_reports_size_rate_and_duration(marker_video: Path) -> None:
    info = probe_video(marker_video)
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    assert info.fps == pytest.approx(FPS)
    assert info.duration == pytest.approx(10.0, abs=0.01)


def test_frames_at_returns_the_frame_on_screen(marker_video: Path) -> None:
    times = [0.0, 0.05, 0.1, 3.33, 9.95, 1.0, 0.0, 7.2]  # unsorted, repeats, backward jumps
    with VideoReader(marker_video) as reader:
        indices = [frame_index_of(f) for f in reader.frames_at(times)]
    assert indices == [0, 0, 1, 33, 99, 10, 0, 72]


def test_offset_shifts_every_request(marker_video: Path) -> None:
    with VideoReader(marker_video) as reader:
        assert [frame_index_of(f) for f in reader.frames_at([0.0, 4.0], offset=2.5)] == [25, 65]


def test_sequential_requests_across_calls(marker_video: Path) -> None:
    with VideoReader(marker_video, seek_threshold=1.0) as reader:
        got = [frame_index_of(reader.frames_at([t])[0]) for t in np.arange(0.0, 9.9, 0.7)]
    assert got == [int(np.floor(t * FPS + 1e-9)) for t in np.arange(0.0, 9.9, 0.7)]


def test_box_selects_pixels(marker_video: Path) -> None:
    black = unnormalise(decode_frames(marker_video, [1.0], box=(0, 0.5, 0.5, 0.5)))
    white = unnormalise(decode_frames(marker_video, [1.0], box=(0.5, 0.5, 0.5, 0.5)))
    tens = unnormalise(decode_frames(marker_video, [4.7], box=(0.0, 0.0, 0.5, 0.5)))
    assert black.shape == (1, 3, 224, 224)
    assert black.max() < 3 and white.min() > 252
    assert torch.allclose(tens, torch.full_like(tens, digit_levels(47)[0]), atol=3)


def test_whole_frame_is_resized_and_centre_cropped(marker_video: Path) -> None:
    frames = unnormalise(decode_frames(marker_video, [0.0, 2.0]))
    assert frames.shape == (2, 3, 224, 224)
    # short side (48 px) -> 224 (width 299, 37 px cut each side): the top half of the frame is
    # the top half of the output
    top = frames[1, 0, 20:90]
    assert index_from_levels(top[:, :60].mean().item(), top[:, -60:].mean().item()) == 20
    assert frames[1, :, 130:].amax(dim=(0, 1))[:20].max() < 3  # black quadrant on the left
    assert frames[1, :, 130:].amin(dim=(0, 1))[-20:].min() > 252  # white on the right


def test_stretch_keeps_the_whole_box() -> None:
    image = np.zeros((1, 10, 40, 3), np.uint8)
    image[:, :, :4] = 255  # a white stripe at the far left
    cropped = unnormalise(preprocess_frames(image, fit="crop"))
    stretched = unnormalise(preprocess_frames(image, fit="stretch"))
    assert cropped[..., :10].max() < 3  # centre crop cuts the stripe away
    assert stretched[..., 5:15].min() > 250


def test_video_shorter_than_asked(marker_video: Path) -> None:
    too_short = pytest.raises(VideoTooShortError, match=r"marker\.mp4")
    with VideoReader(marker_video) as reader, too_short:
        reader.frames_at([12.0])
    with VideoReader(marker_video) as reader:  # within one frame + tolerance of the end: last frame
        assert frame_index_of(reader.frames_at([10.05])[0]) == 99


@pytest.mark.parametrize("box", [(0.6, 0, 0.5, 1), (-0.1, 0, 0.5, 0.5), (0, 0, 0, 1), (1, 2, 3)])
def test_bad_boxes_are_refused(box: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="box"):
        check_box(box)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no such"):
        VideoReader(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoError, match=r"junk\.mp4"):
        VideoReader(junk)


def test_negative_time_is_refused(marker_video: Path) -> None:
    with VideoReader(marker_video) as reader, pytest.raises(ValueError, match="before the start"):
        reader.frames_at([1.0], offset=-2.0)
