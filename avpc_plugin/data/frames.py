"""Training frames in two steps: *staged* uint8 squares, then model-ready crops.

The reference trains on frames resized to ``int(1.1 * 224) = 246`` pixels, randomly cropped to 224
and randomly flipped, and validates on frames resized to 224. Here every decoded frame is first
*staged*: its short side resized to ``side = staged_side(image_size)`` pixels and centre-cropped
to a ``side x side`` square, kept as uint8. That is what the pre-decoded cache stores, and the
uncached dataset stages frames the same way after decoding them, so both give identical items.
:func:`crop_for_model` then makes the net-sized frames from staged frames cheaply (a crop and a
flip, or one small resize in validation), still uint8, and :func:`normalize_frames` applies the
ImageNet normalisation on whatever device the frames are on. In training, :func:`restyle_frames`
can also change how a source looks (colours, grayscale, a line drawing), so that a visual net
learns instruments rather than the few pictures it was shown.

Staged frames are ``uint8 (T, 3, side, side)`` RGB; net-sized frames are uint8
``(3, T, image_size, image_size)`` (channels first, then time); normalised frames float32.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor

from avpc_plugin.video.decode import IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD

CROP_MARGIN = 1.1
"""Staged side over the training crop side (the reference's resize-to-1.1x-then-random-crop)."""


def staged_side(image_size: int = IMAGE_SIZE) -> int:
    """Side of the staged frames for ``image_size`` crops: ``int(1.1 * image_size)`` (246 px
    for 224)."""
    if image_size < 1:
        raise ValueError(f"image_size: expected >= 1 pixel, got {image_size}")
    return int(image_size * CROP_MARGIN)


def stage_frames(images: np.ndarray, side: int) -> np.ndarray:
    """Resize the short side of RGB ``images`` to ``side`` and centre-crop a square.

    Args:
        images: uint8 ``(T, H, W, 3)``.
        side: output side in pixels.

    Returns:
        uint8 ``(T, 3, side, side)`` (channels first, so crops copy whole rows). Shrinking uses
        area averaging (no aliasing), enlarging bicubic interpolation.
    """
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"images: expected uint8 RGB (T, H, W, 3), got {images.dtype} {images.shape}"
        )
    if side < 1:
        raise ValueError(f"side: expected >= 1 pixel, got {side}")
    height, width = images.shape[1:3]
    scale = side / min(height, width)
    new_h, new_w = max(side, round(height * scale)), max(side, round(width * scale))
    top, left = (new_h - side) // 2, (new_w - side) // 2
    out = np.empty((images.shape[0], 3, side, side), dtype=np.uint8)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    for k, image in enumerate(images):
        resized = image
        if (new_h, new_w) != (height, width):
            resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
        out[k] = resized[top : top + side, left : left + side].transpose(2, 0, 1)
    return out


def crop_for_model(
    staged: np.ndarray, image_size: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Net-sized frames from staged frames: random crop + flip with ``rng``, else resized.

    Args:
        staged: uint8 ``(T, 3, S, S)`` with ``S >= image_size``.
        image_size: output side in pixels.
        rng: training augmentation (crop position and a coin for a horizontal flip, the same for
            all ``T`` frames); ``None``: the whole staged square resized to ``image_size``
            (validation).

    Returns:
        uint8 ``(3, T, image_size, image_size)`` (channels first, then time), contiguous; see
        :func:`normalize_frames` for the net's float input.
    """
    if staged.ndim != 4 or staged.shape[1] != 3 or staged.shape[2] != staged.shape[3]:
        raise ValueError(f"staged: expected uint8 (T, 3, S, S), got shape {staged.shape}")
    side = staged.shape[2]
    if side < image_size:
        raise ValueError(f"staged: side {side} is smaller than image_size {image_size}")
    if rng is not None:
        top, left = (int(v) for v in rng.integers(0, side - image_size + 1, size=2))
        crop = staged[:, :, top : top + image_size, left : left + image_size]
        if rng.random() < 0.5:
            crop = crop[..., ::-1]
    elif side != image_size:
        # Plane by plane (contiguous 2-D planes, written straight into channel-first order).
        # Bilinear: at the usual 224 / 246 = 0.91 it barely aliases and is 5x faster than area.
        out = np.empty((3, staged.shape[0], image_size, image_size), dtype=np.uint8)
        for t, frame in enumerate(staged):
            for c, plane in enumerate(frame):
                out[c, t] = cv2.resize(
                    plane, (image_size, image_size), interpolation=cv2.INTER_LINEAR
                )
        return out
    else:
        crop = staged
    return np.ascontiguousarray(crop.transpose(1, 0, 2, 3))


BRIGHTNESS = (0.6, 1.4)
CONTRAST = (0.6, 1.4)
SATURATION = (0.2, 1.8)
HUE = (-0.15, 0.15)
"""Ranges of :func:`restyle_frames`' colour jitter (factors; hue in turns of the colour wheel)."""
GRAYSCALE_P = 0.2
LINE_DRAWING_P = 0.2
"""Chances of :func:`restyle_frames` making the frames gray, or a line drawing."""


def restyle_frames(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random restyle of a source's net-sized frames, the same for all its frames.

    Colour jitter (brightness, contrast, saturation and hue factors drawn from the ranges
    above, in a random order), then with probability ``GRAYSCALE_P`` grayscale, or with
    probability ``LINE_DRAWING_P`` a line drawing (Canny edges, dark on white). Training on
    these keeps a visual net from learning the corpus's few pictures by their colours and
    rendering style (flat fills, outlines, emoji).

    Args:
        frames: uint8 ``(3, T, H, W)`` as made by :func:`crop_for_model`.
        rng: draws every choice (so a seeded dataset item is reproducible).

    Returns:
        uint8 ``(3, T, H, W)``, contiguous.
    """
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[0] != 3:
        raise ValueError(f"frames: expected uint8 (3, T, H, W), got {frames.dtype} {frames.shape}")
    images = torch.from_numpy(np.ascontiguousarray(frames.transpose(1, 0, 2, 3)))  # (T, 3, H, W)
    jitters = [
        (TF.adjust_brightness, BRIGHTNESS),
        (TF.adjust_contrast, CONTRAST),
        (TF.adjust_saturation, SATURATION),
        (TF.adjust_hue, HUE),
    ]
    for k in rng.permutation(len(jitters)):
        adjust, (low, high) = jitters[k]
        images = adjust(images, float(rng.uniform(low, high)))
    style = rng.random()
    if style < GRAYSCALE_P:
        images = TF.rgb_to_grayscale(images, num_output_channels=3)
    elif style < GRAYSCALE_P + LINE_DRAWING_P:
        gray = TF.rgb_to_grayscale(images, num_output_channels=1)[:, 0].numpy()
        lines = np.stack([255 - cv2.Canny(frame, 60, 160) for frame in gray])
        images = torch.from_numpy(lines)[:, None].expand(-1, 3, -1, -1)
    return np.ascontiguousarray(images.numpy().transpose(1, 0, 2, 3))


def normalize_frames(frames: Tensor) -> Tensor:
    """ImageNet-normalise uint8 RGB frames on their own device.

    Args:
        frames: uint8 ``(..., 3, T, H, W)`` (channels at dim -4), e.g. a batch of dataset items
            made with ``normalize=False``, moved to the GPU first.

    Returns:
        float32 ``(..., 3, T, H, W)``: ``(x / 255 - mean) / std`` per channel.
    """
    if frames.dtype != torch.uint8 or frames.dim() < 4 or frames.shape[-4] != 3:
        raise ValueError(
            f"frames: expected uint8 (..., 3, T, H, W), got {frames.dtype} {tuple(frames.shape)}"
        )
    std = torch.tensor(IMAGENET_STD, device=frames.device)
    scale = (1.0 / (255.0 * std)).view(3, 1, 1, 1)
    bias = (-torch.tensor(IMAGENET_MEAN, device=frames.device) / std).view(3, 1, 1, 1)
    return frames.float().mul_(scale).add_(bias)
