"""Frames at given timestamps from a video (PyAV), cropped, resized and normalised for the nets.

Times are in seconds from the video stream's first frame. The frame "at" time ``t`` is the one
on screen at ``t``: the last frame whose presentation time is ``<= t``. A time offset shifts every
request (``video_time = time + offset``), e.g. to line up a second camera with the audio.

:class:`VideoReader` keeps the file open and decodes forward: requests sorted by time cost one
sequential pass, it seeks only to go back or to jump far ahead (``seek_threshold``), and it keeps
the last few decoded frames so small steps back are free. That makes it fast both for the
separator (three frames per window, windows in time order) and for sparse look-ups.

Preprocessing follows the reference (test-time transform): optional box crop, resize of the short
side to ``size`` with bicubic interpolation, centre crop to ``size x size`` (``fit="crop"``; or
``fit="stretch"`` to squeeze the whole box in), scale to [0, 1], ImageNet mean / std.
"""

from __future__ import annotations

import collections
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

IMAGE_SIZE = 224
"""Side of the square frames the visual net takes (pixels)."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Box = tuple[float, float, float, float]
"""A normalised crop box ``(x, y, w, h)``: left, top, width, height as fractions of the frame."""
Fit = Literal["crop", "stretch"]

_TIME_EPS = 1e-6  # seconds: frame times are rationals, requests are floats


class VideoError(Exception):
    """A video that cannot be opened or decoded; the message names the file."""


class VideoTooShortError(VideoError):
    """A frame was asked for past the end of the video."""


@dataclass(frozen=True)
class VideoInfo:
    """Facts about a video stream.

    Attributes:
        path: the file.
        width, height: frame size in pixels.
        fps: average frame rate (frames per second).
        duration: seconds from the first frame to the end of the last one (container estimate).
    """

    path: Path
    width: int
    height: int
    fps: float
    duration: float


def check_box(box: Sequence[float] | None, name: str = "box") -> Box | None:
    """Validate a normalised box; returns it as a tuple of floats (or None).

    Raises:
        ValueError: not four numbers, non-positive width / height, or a box reaching outside the
            frame (``x, y >= 0`` and ``x + w, y + h <= 1``, with 1e-6 of slack).
    """
    if box is None:
        return None
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: expected four numbers x, y, w, h (fractions of the frame), got {box!r}"
        ) from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise ValueError(f"{name}: width and height must be positive numbers, got {box!r}")
    slack = 1e-6
    if x < -slack or y < -slack or x + w > 1 + slack or y + h > 1 + slack:
        raise ValueError(
            f"{name}: ({x:g}, {y:g}, {w:g}, {h:g}) lies outside the frame: expected x, y >= 0 and "
            f"x + w, y + h <= 1 (normalised coordinates)"
        )
    return (x, y, w, h)


def box_to_pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Pixel rectangle ``(left, top, right, bottom)`` (exclusive) of a normalised box, >= 1 px."""
    x, y, w, h = box
    left = min(max(round(x * width), 0), width - 1)
    top = min(max(round(y * height), 0), height - 1)
    right = max(min(round((x + w) * width), width), left + 1)
    bottom = max(min(round((y + h) * height), height), top + 1)
    return left, top, right, bottom


def preprocess_frames(
    frames: Sequence[np.ndarray] | np.ndarray,
    box: Box | None = None,
    size: int = IMAGE_SIZE,
    fit: Fit = "crop",
) -> Tensor:
    """Crop, resize and ImageNet-normalise RGB frames for the visual net.

    Args:
        frames: ``T`` uint8 RGB images ``(H, W, 3)`` of one size (a list or a ``(T, H, W, 3)``
            array).
        box: normalised crop box or None for the whole frame.
        size: output side in pixels.
        fit: ``"crop"``: short side to ``size`` then centre crop (the reference); ``"stretch"``:
            resize the box to ``size x size``.

    Returns:
        float32 ``(T, 3, size, size)``.
    """
    stack = np.stack(list(frames)) if not isinstance(frames, np.ndarray) else frames
    if stack.ndim != 4 or stack.shape[-1] != 3:
        raise ValueError(f"frames: expected RGB images (T, H, W, 3), got shape {stack.shape}")
    if box is not None:
        left, top, right, bottom = box_to_pixels(box, stack.shape[2], stack.shape[1])
        stack = stack[:, top:bottom, left:right]
    images = torch.from_numpy(np.ascontiguousarray(stack)).permute(0, 3, 1, 2).float() / 255.0
    height, width = images.shape[-2:]
    if fit == "crop":
        scale = size / min(height, width)
        target = (max(size, round(height * scale)), max(size, round(width * scale)))
    elif fit == "stretch":
        target = (size, size)
    else:
        raise ValueError(f"fit: expected 'crop' or 'stretch', got {fit!r}")
    if target != (height, width):
        images = F.interpolate(
            images, size=target, mode="bicubic", antialias=True, align_corners=False
        ).clamp_(0.0, 1.0)
    top = (images.shape[-2] - size) // 2
    left = (images.shape[-1] - size) // 2
    images = images[..., top : top + size, left : left + size]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((images - mean) / std).contiguous()


class VideoReader:
    """Decode frames of one video at arbitrary timestamps.

    Args:
        path: a video file PyAV can open.
        seek_threshold: seek instead of decoding forward when the next requested time is more
            than this many seconds ahead (longer than typical keyframe intervals).
        cache_frames: decoded frames kept for steps back without a seek.
        end_tolerance: seconds past the end of the last frame still answered with the last frame
            (audio tracks often run a few tens of milliseconds past the video); ``math.inf``
            holds the last frame for any time past the end.

    Attributes:
        decoded_end: once decoding has run off the end of the stream, where the video really
            ends (its last frame's time plus one frame), which a cut-off file puts before
            ``info.duration``; None until then.

    Raises:
        VideoError: missing file, not a media file, or no video stream.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        seek_threshold: float = 10.0,
        cache_frames: int = 8,
        end_tolerance: float = 0.1,
    ) -> None:
        import av  # deferred: PyAV only to open a video (others take the checks, constants)

        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"{self.path}: no such video file")
        try:
            self._container: Any = av.open(str(self.path))
        except Exception as err:
            raise VideoError(f"{self.path}: cannot open as a video ({err})") from err
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(f"{self.path}: no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._time_base = self._stream.time_base or Fraction(1, 1_000_000)
        self._start_pts = self._stream.start_time or 0
        fps = float(self._stream.average_rate or self._stream.guessed_rate or 0) or 25.0
        if self._stream.duration is not None:
            duration = float(self._stream.duration * self._time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / 1_000_000
        else:
            duration = math.inf
        self.info = VideoInfo(
            path=self.path,
            width=int(self._stream.codec_context.width),
            height=int(self._stream.codec_context.height),
            fps=fps,
            duration=duration,
        )
        self.seek_threshold = seek_threshold
        self.end_tolerance = end_tolerance
        self._recent: collections.deque[tuple[float, Any]] = collections.deque(maxlen=cache_frames)
        self._frames: Any = None  # the decoding iterator
        self._lookahead: tuple[float, Any] | None = None  # decoded, not yet shown
        self._exhausted = False
        self._latest: tuple[float, Any] | None = None  # the latest frame decoded so far
        self._decoded_since_seek = False
        self.decoded_end: float | None = None

    # ------------------------------------------------------------------------------ public API

    def frames_at(self, times: Sequence[float], offset: float = 0.0) -> list[np.ndarray]:
        """RGB frames (uint8 ``(H, W, 3)``) on screen at ``times + offset`` seconds, in order.

        Raises:
            ValueError: a negative video time.
            VideoTooShortError: a time past the end of the video.
        """
        wanted = [float(t) + offset for t in times]
        for t in wanted:
            if not math.isfinite(t) or t < -_TIME_EPS:
                raise ValueError(
                    f"{self.path}: frame time {t:.3f} s (offset {offset:+.3f} s) is before the "
                    f"start of the video"
                )
        found: dict[float, np.ndarray] = {}
        for t in sorted(set(wanted)):
            found[t] = self._frame_at(t).to_ndarray(format="rgb24")
        return [found[t] for t in wanted]

    def tensor_at(
        self,
        times: Sequence[float],
        box: Box | None = None,
        offset: float = 0.0,
        size: int = IMAGE_SIZE,
        fit: Fit = "crop",
    ) -> Tensor:
        """Frames at ``times + offset`` cropped to ``box``, preprocessed: ``(T, 3, size, size)``."""
        box = check_box(box)
        return preprocess_frames(self.frames_at(times, offset), box, size, fit)

    def close(self) -> None:
        """Close the file."""
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------------------- decoding

    def _frame_at(self, t: float) -> Any:
        cached = self._from_cache(t)
        if cached is not None:
            return cached
        newest = self._recent[-1][0] if self._recent else None
        if newest is None or t < newest or t - newest > self.seek_threshold:
            self._seek(t)
        while True:
            if self._lookahead is not None and self._lookahead[0] <= t + _TIME_EPS:
                self._recent.append(self._lookahead)
                self._lookahead = None
            if self._lookahead is not None:
                break  # the next frame is later than t: the newest decoded one is on screen
            nxt = self._decode_next()
            if nxt is None:
                break
            self._lookahead = nxt
        if not self._recent or self._recent[-1][0] > t + _TIME_EPS:
            # Seeking landed after t (first frames have no earlier keyframe): the earliest frame.
            if (
                self._recent
                and t < self._recent[0][0]
                and self._recent[0][0] - t < 1 / self.info.fps
            ):
                return self._recent[0][1]
            latest = self._latest
            if (  # a seek past the real end of a cut-off file: its last frame, if held
                not self._recent
                and latest is not None
                and latest[0] < t
                and t <= latest[0] + 1 / self.info.fps + self.end_tolerance
            ):
                return latest[1]
            raise VideoError(f"{self.path}: cannot decode a frame at {t:.3f} s")
        time, frame = self._recent[-1]
        if self._lookahead is None and t > time + 1 / self.info.fps + self.end_tolerance:
            raise VideoTooShortError(
                f"{self.path}: video is shorter than asked: frame wanted at {t:.3f} s, the last "
                f"frame is at {time:.3f} s"
            )
        return frame

    def _from_cache(self, t: float) -> Any:
        """The cached frame on screen at ``t`` if the cache covers ``t``."""
        frames = list(self._recent)
        for i, (time, frame) in enumerate(frames):
            following = (
                frames[i + 1][0]
                if i + 1 < len(frames)
                else (self._lookahead[0] if self._lookahead is not None else None)
            )
            if time <= t + _TIME_EPS and following is not None and t + _TIME_EPS < following:
                return frame
        return None

    def _seek(self, t: float) -> None:
        import av  # deferred: PyAV, as in __init__

        target = self._start_pts + int(max(t, 0.0) / self._time_base)
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except av.FFmpegError as err:
            raise VideoError(f"{self.path}: cannot seek to {t:.3f} s ({err})") from err
        self._frames = self._container.decode(self._stream)
        self._recent.clear()
        self._lookahead = None
        self._exhausted = False
        self._decoded_since_seek = False

    def _decode_next(self) -> tuple[float, Any] | None:
        import av  # deferred: PyAV, as in __init__

        if self._exhausted:
            return None
        if self._frames is None:
            self._frames = self._container.decode(self._stream)
        try:
            frame = next(self._frames)
        except (StopIteration, av.FFmpegError) as err:
            if isinstance(err, av.FFmpegError) and not self._decoded_since_seek:
                raise VideoError(f"{self.path}: cannot decode ({err})") from err
            # the end, or a damaged (cut-off) tail after good frames: the stream ends there
            self._exhausted = True
            if self._decoded_since_seek and self._latest is not None:
                self.decoded_end = self._latest[0] + 1 / self.info.fps
            return None
        pts = frame.pts if frame.pts is not None else 0
        decoded = (float((pts - self._start_pts) * self._time_base), frame)
        self._decoded_since_seek = True
        if self._latest is None or decoded[0] >= self._latest[0]:
            self._latest = decoded
        return decoded


def audio_start_in_video(path: str | os.PathLike[str]) -> float:
    """Where a container's audio starts on its own video's clock: the audio stream's start time
    minus the video stream's, in seconds (``-2.0``: the first video frame comes 2 s after the
    first audio sample; camera files are often tens of milliseconds apart). Add it to an audio
    time, counted from the first audio sample, to get the video time, counted from the first
    frame. 0 when the file lacks either stream or their start times."""
    import av  # deferred: PyAV only to open a video

    try:
        with av.open(str(path)) as container:
            audio = container.streams.audio[0] if container.streams.audio else None
            video = container.streams.video[0] if container.streams.video else None
            if audio is None or video is None:
                return 0.0
            starts = [_start_seconds(stream) for stream in (audio, video)]
            if starts[0] is None or starts[1] is None:
                return 0.0
            return starts[0] - starts[1]
    except Exception:  # an unreadable file is reported by the readers that need it
        return 0.0


def _start_seconds(stream: Any) -> float | None:
    """A PyAV stream's start time in seconds, if the container gives one."""
    if stream.start_time is None or stream.time_base is None:
        return None
    return float(stream.start_time * stream.time_base)


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate and duration of a video file (errors as :class:`VideoReader`)."""
    with VideoReader(path) as reader:
        return reader.info


def decode_frames(
    path: str | os.PathLike[str],
    times: Sequence[float],
    box: Sequence[float] | None = None,
    offset: float = 0.0,
    size: int = IMAGE_SIZE,
    fit: Fit = "crop",
) -> Tensor:
    """Preprocessed frames of ``path`` at ``times + offset`` s: float32 ``(T, 3, size, size)``.

    Opens and closes the file; keep a :class:`VideoReader` open for repeated requests.

    Raises:
        VideoError: unreadable file; VideoTooShortError: a time past its end; ValueError: a bad
        box or a negative time.
    """
    checked = check_box(box)
    with VideoReader(path) as reader:
        return reader.tensor_at(times, checked, offset, size, fit)
