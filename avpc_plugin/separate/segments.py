"""Video-synced segments: the plan of model-rate windows over a time range and their overlap-add.

The model sees ``CLIP_SAMPLES`` (65535) samples at ``MODEL_RATE`` (11025 Hz), i.e. one
``CLIP_FRAMES`` (256) frame STFT. Window ``k`` starts at model sample ``k * hop_frames * HOP``, so
its frame ``j`` is frame ``k * hop_frames + j`` of the STFT grid of the whole range (frame ``g``
centred at ``g * HOP / MODEL_RATE`` seconds). Masks of overlapping windows are blended with
:func:`overlap_weights` and divided by the summed weight, so a model that answers 1 everywhere
gives exactly 1 everywhere, at the edges and for ranges shorter than one window too.

Each window's frames are taken at its centre and ``frame_stride`` seconds either side: the
reference picks ``num_frames = 3`` frames ``stride_frames = 24`` apart at 8 fps (3 s) around the
clip centre (``avpc/dataset/music.py``); it rounds the centre down to its 8 fps frame grid, which
only existed because its frames were pre-extracted, so here the exact centre is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from avpc_plugin.audio.stft import CLIP_FRAMES, CLIP_SAMPLES, HOP, MODEL_RATE
from avpc_plugin.stem_settings import FRAME_STRIDE_SECONDS, FRAMES_PER_WINDOW


@dataclass(frozen=True)
class WindowPlan:
    """Where the model windows of a range lie.

    Attributes:
        length: samples of the range at the model rate.
        hop_frames: STFT frames between window starts (128 for 50 % overlap).
    """

    length: int
    hop_frames: int = CLIP_FRAMES // 2

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"length: expected at least one model-rate sample, got {self.length}")
        if not 1 <= self.hop_frames <= CLIP_FRAMES:
            raise ValueError(
                f"hop_frames: expected an int in [1, {CLIP_FRAMES}], got {self.hop_frames}"
            )

    @classmethod
    def with_overlap(cls, length: int, overlap: float = 0.5) -> WindowPlan:
        """Plan for ``length`` model-rate samples with windows overlapping by ``overlap``.

        Raises:
            ValueError: ``overlap`` outside ``[0, 1)``.
        """
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap: expected a fraction in [0, 1), got {overlap!r}")
        return cls(length, max(1, round(CLIP_FRAMES * (1.0 - overlap))))

    @property
    def total_frames(self) -> int:
        """Frames of the range's STFT grid: ``1 + length // HOP``."""
        return 1 + self.length // HOP

    @property
    def num_windows(self) -> int:
        """Windows needed so that every frame of the grid is covered (at least 1)."""
        extra = self.total_frames - CLIP_FRAMES
        return 1 if extra <= 0 else 1 + math.ceil(extra / self.hop_frames)

    def first_frame(self, window: int) -> int:
        """Grid frame of the window's first frame."""
        return window * self.hop_frames

    def start_sample(self, window: int) -> int:
        """Model-rate sample (from the range start) where the window begins."""
        return self.first_frame(window) * HOP

    def centre_time(self, window: int) -> float:
        """Seconds from the range start to the window's centre."""
        return (self.start_sample(window) + CLIP_SAMPLES / 2) / MODEL_RATE

    def frame_times(
        self,
        window: int,
        count: int = FRAMES_PER_WINDOW,
        stride: float = FRAME_STRIDE_SECONDS,
    ) -> list[float]:
        """Seconds from the range start of the window's ``count`` video frames, centred."""
        centre = self.centre_time(window)
        return [centre + (i - count // 2) * stride for i in range(count)]

    def settled_frames(self, windows_done: int) -> int:
        """Grid frames no later window touches once windows ``0 .. windows_done - 1`` are added."""
        if windows_done >= self.num_windows:
            return self.total_frames
        return min(self.first_frame(windows_done), self.total_frames)


def overlap_weights(frames: int = CLIP_FRAMES, device: torch.device | None = None) -> Tensor:
    """Blending weight of a window's frames: ``sin^2(pi (j + 0.5) / frames)``, shape ``(frames,)``.

    Strictly positive (so the weight sum never vanishes, even at the range edges) and, for a hop of
    half a window, two overlapping windows sum to exactly 1.
    """
    j = torch.arange(frames, dtype=torch.float64, device=device)
    return torch.sin(math.pi * (j + 0.5) / frames).pow(2).float()


class OverlapAdd:
    """Streaming weighted overlap-add of per-window masks on the range's frame grid.

    Holds only the frames not yet handed out, so memory stays at about one window per source
    whatever the length of the range.

    Args:
        plan: the window plan.
        weights: ``(CLIP_FRAMES,)`` blending weights (default :func:`overlap_weights`).
    """

    def __init__(self, plan: WindowPlan, weights: Tensor | None = None) -> None:
        self.plan = plan
        self.weights = overlap_weights() if weights is None else weights
        self._sum: Tensor | None = None  # (N, F, frames) weighted masks from frame _origin on
        self._weight_sum: Tensor | None = None  # (frames,)
        self._origin = 0  # grid frame of column 0
        self._windows_done = 0

    def add(self, window: int, masks: Tensor) -> None:
        """Add window ``window``'s masks ``(N, F, CLIP_FRAMES)``; windows must come in order."""
        if window != self._windows_done:
            raise ValueError(f"window: expected window {self._windows_done} next, got {window}")
        if masks.dim() != 3 or masks.shape[-1] != CLIP_FRAMES:
            raise ValueError(
                f"masks: expected (N, F, {CLIP_FRAMES}), got shape {tuple(masks.shape)}"
            )
        first = self.plan.first_frame(window)
        stop = min(first + CLIP_FRAMES, self.plan.total_frames)
        used = stop - first
        weights = self.weights.to(masks.device, masks.dtype)[:used]
        if self._sum is None or self._weight_sum is None:
            self._sum = masks.new_zeros((*masks.shape[:2], 0))
            self._weight_sum = masks.new_zeros(0)
        grow = stop - self._origin - self._sum.shape[-1]
        if grow > 0:
            self._sum = torch.cat([self._sum, masks.new_zeros((*masks.shape[:2], grow))], dim=-1)
            self._weight_sum = torch.cat([self._weight_sum, masks.new_zeros(grow)])
        lo = first - self._origin
        self._sum[..., lo : lo + used] += masks[..., :used] * weights
        self._weight_sum[lo : lo + used] += weights
        self._windows_done += 1

    @property
    def settled(self) -> int:
        """Grid frames (from the range start) whose blended value is final."""
        return self.plan.settled_frames(self._windows_done)

    def pop(self) -> tuple[int, Tensor]:
        """Hand out the settled frames not handed out yet.

        Returns:
            ``(first_frame, masks)``: the grid frame of the first column and the blended masks
            ``(N, F, frames)`` (possibly 0 frames).
        """
        if self._sum is None or self._weight_sum is None:
            raise RuntimeError("OverlapAdd.pop: no window added yet")
        count = self.settled - self._origin
        blended = self._sum[..., :count] / self._weight_sum[:count]
        first = self._origin
        self._sum = self._sum[..., count:]
        self._weight_sum = self._weight_sum[count:]
        self._origin += count
        return first, blended
