"""Audio-driven performer motion and the video frames that show it.

The picture of the instrument moves with its sound, so sight and sound agree in time the way a
player's body does: every onset kicks a quick bounce (an attack then an exponential settle),
loudness swells the picture and widens a slow sway, and the camera adds hand-held jitter, a slow
zoom, lens blur and sensor noise.

Envelopes are sampled at the video frame times ``t_k = k / fps``. Loudness is in ``[0, 1]``
(RMS in dB mapped from -60 dB .. peak), onset strength in ``[0, 1]`` (rise of the log energy).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def frame_envelopes(
    audio: np.ndarray, sample_rate: int, fps: float, n_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Loudness and onset strength of ``audio`` at each of ``n_frames`` video frames.

    Args:
        audio: waveform ``(samples,)`` or ``(channels, samples)``, linear amplitude.
        sample_rate: of ``audio`` in Hz.
        fps: video frame rate.
        n_frames: number of frames (frame ``k`` at ``k / fps`` seconds).

    Returns:
        ``(loudness, onsets)``, each float64 ``(n_frames,)`` in ``[0, 1]``.
    """
    mono = np.asarray(audio, dtype=np.float64)
    if mono.ndim == 2:
        mono = mono.mean(axis=0)
    if mono.ndim != 1:
        raise ValueError(
            f"audio: expected (samples,) or (channels, samples), got {np.shape(audio)}"
        )
    hop = max(1, sample_rate // 100)  # 10 ms energy frames
    n_hops = max(1, len(mono) // hop)
    energy = (mono[: n_hops * hop].reshape(n_hops, hop) ** 2).mean(axis=1)
    log_energy = 10 * np.log10(energy + 1e-10)
    rise = np.maximum(np.diff(log_energy, prepend=log_energy[:1]), 0.0)
    hop_times = (np.arange(n_hops) + 0.5) * hop / sample_rate
    frame_times = np.arange(n_frames) / fps
    peak = log_energy.max()
    loud_hops = np.clip((log_energy - (peak - 60.0)) / 60.0, 0.0, 1.0)
    # Loudness: energy averaged over the frame period; onsets: the largest rise in that period.
    half = 0.5 / fps
    loudness = np.zeros(n_frames)
    onsets = np.zeros(n_frames)
    for k, t in enumerate(frame_times):
        window = (hop_times >= t - half) & (hop_times < t + half)
        if window.any():
            loudness[k] = loud_hops[window].mean()
            onsets[k] = rise[window].max()
    onsets = np.clip(onsets / 12.0, 0.0, 1.0)  # a 12 dB jump within 10 ms counts as a full attack
    return loudness, onsets


@dataclass(frozen=True)
class Motion:
    """Per-frame pose of the performer picture (all ``(T,)`` float arrays).

    ``dx``, ``dy`` are offsets in fractions of the frame size (``dy < 0`` is up), ``scale`` the
    picture size relative to its rest size, ``angle`` the tilt in degrees.
    """

    dx: np.ndarray
    dy: np.ndarray
    scale: np.ndarray
    angle: np.ndarray


def performer_motion(
    loudness: np.ndarray, onsets: np.ndarray, fps: float, rng: np.random.Generator
) -> Motion:
    """How the picture moves given the sound's loudness and onsets (see module docstring).

    The amounts (bounce height, sway width, swell) are drawn once per clip from ``rng``.
    """
    if loudness.shape != onsets.shape or loudness.ndim != 1:
        raise ValueError(
            f"loudness, onsets: expected equal (T,) shapes, got {loudness.shape}, {onsets.shape}"
        )
    n = len(loudness)
    decay = np.exp(-1.0 / (0.12 * fps))  # bounce settles in about 120 ms
    bounce = np.zeros(n)
    level = 0.0
    for k in range(n):
        level = max(level * decay, float(onsets[k]))
        bounce[k] = level
    smooth = _smooth(loudness, max(1, round(0.25 * fps)))
    t = np.arange(n) / fps
    sway_rate = rng.uniform(0.3, 0.9)  # sways per second
    phase = rng.uniform(0, 2 * np.pi)
    sway = np.sin(2 * np.pi * sway_rate * t + phase) * (0.3 + 0.7 * smooth)
    return Motion(
        dx=rng.uniform(0.01, 0.04) * sway,
        dy=-rng.uniform(0.02, 0.05) * bounce,
        scale=1.0 + rng.uniform(0.06, 0.15) * smooth + rng.uniform(0.02, 0.05) * bounce,
        angle=rng.uniform(2.0, 7.0) * sway,
    )


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    kernel = np.ones(width) / width
    return np.convolve(
        np.pad(x, (width // 2, width - 1 - width // 2), mode="edge"), kernel, "valid"
    )


@dataclass(frozen=True)
class Camera:
    """Per-clip camera settings: framing and imperfections."""

    rest_scale: float
    """Picture size at rest as a fraction of the frame."""
    center: tuple[float, float]
    """Rest position of the picture centre (x, y) in fractions of the frame."""
    jitter: float
    """Std of the hand-held shake, fraction of the frame per frame."""
    zoom: tuple[float, float]
    """Zoom at the first and last frame (1 = none)."""
    blur: float
    """Gaussian blur sigma in pixels (0 = sharp)."""
    noise: float
    """Std of the sensor noise in 8-bit levels."""

    @staticmethod
    def random(rng: np.random.Generator) -> Camera:
        """A varied but plausible camera."""
        return Camera(
            rest_scale=float(rng.uniform(0.5, 0.8)),
            center=(float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.45, 0.6))),
            jitter=float(rng.uniform(0.0, 0.004)),
            zoom=(float(rng.uniform(1.0, 1.15)), float(rng.uniform(1.0, 1.15))),
            blur=float(rng.choice([0.0, 0.0, rng.uniform(0.5, 1.5)])),
            noise=float(rng.uniform(0.0, 6.0)),
        )


def render_frames(
    picture: np.ndarray,
    background: np.ndarray,
    motion: Motion,
    camera: Camera,
    rng: np.random.Generator,
) -> np.ndarray:
    """Composite the moving picture on the background, frame by frame, through the camera.

    Args:
        picture: RGBA ``uint8 (P, P, 4)``.
        background: RGB ``uint8 (S, S, 3)``; the output frames have its size.
        motion: the performer's pose per frame.
        camera: framing, shake, zoom, blur and noise.
        rng: draws the shake and noise.

    Returns:
        RGB ``uint8 (T, S, S, 3)``.
    """
    size = background.shape[0]
    n = len(motion.scale)
    p = picture.shape[0]
    alpha = picture[..., 3:].astype(np.float32) / 255.0
    premultiplied = np.concatenate([picture[..., :3].astype(np.float32) * alpha, alpha], axis=-1)
    shake = np.cumsum(rng.normal(0.0, camera.jitter, size=(n, 2)), axis=0) * size
    zoom = np.linspace(camera.zoom[0], camera.zoom[1], n)
    # Sensor noise: a bank of a few noise fields, shifted randomly per frame (drawing a fresh
    # field per frame costs more than everything else together and looks the same).
    noise_bank = rng.standard_normal((4, size, size, 3), dtype=np.float32) * camera.noise
    offsets = rng.integers(0, size, size=(n, 3))
    frames = np.empty((n, size, size, 3), dtype=np.uint8)
    for k in range(n):
        # The camera (zoom about the centre, then shake) maps the whole scene to the frame; the
        # picture's own pose is composed with it so each layer is resampled only once.
        view = cv2.getRotationMatrix2D((size / 2, size / 2), 0.0, float(zoom[k]))
        view[:, 2] += shake[k]
        scale = camera.rest_scale * size / p * motion.scale[k]
        pose = cv2.getRotationMatrix2D((p / 2, p / 2), float(motion.angle[k]), scale)
        pose[:, 2] += (
            (camera.center[0] + motion.dx[k]) * size - p / 2,
            (camera.center[1] + motion.dy[k]) * size - p / 2,
        )
        matrix = view @ np.vstack([pose, [0.0, 0.0, 1.0]])
        backdrop = cv2.warpAffine(background, view, (size, size), borderMode=cv2.BORDER_REFLECT)
        layer = cv2.warpAffine(premultiplied, matrix, (size, size), flags=cv2.INTER_LINEAR)
        frame = backdrop.astype(np.float32)
        frame *= 1.0 - layer[..., 3:]
        frame += layer[..., :3]
        if camera.blur > 0:
            frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), camera.blur), dtype=np.float32)
        if camera.noise > 0:
            oy, ox, which = offsets[k]
            frame += np.roll(noise_bank[which % 4], (oy, ox), axis=(0, 1))
        np.clip(frame, 0, 255, out=frame)
        frames[k] = frame.astype(np.uint8)
    return frames
