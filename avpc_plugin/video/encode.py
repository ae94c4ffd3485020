"""Write mp4 files (H.264 video, optional AAC audio) with PyAV.

Frames are RGB ``uint8 (T, H, W, 3)`` shown at a constant ``fps``; H.264 in yuv420p needs even
sizes, so odd ones raise. Encoding is single-threaded and writes no time stamps of the wall
clock, so the same frames give byte-identical files.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def write_mp4(
    path: str | Path,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    crf: int = 23,
    preset: str = "superfast",
) -> None:
    """Encode ``frames`` (and optionally ``audio``) to the mp4 file ``path``.

    Args:
        path: output file; its folder must exist. An existing file is replaced.
        frames: RGB ``uint8 (T, H, W, 3)`` with even ``H`` and ``W``.
        fps: frames per second (> 0); a fractional rate such as 29.97 is kept as a fraction.
        audio: optional waveform ``(channels, samples)`` or ``(samples,)``, float in [-1, 1],
            muxed as AAC.
        sample_rate: of ``audio`` in Hz (required with ``audio``).
        crf: H.264 constant rate factor (lower is better quality, 0..51).
        preset: x264 speed preset.
    """
    import av  # deferred: PyAV only to write a video (corpus modules import this one light)

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if frames.shape[0] < 1:
        raise ValueError("frames: expected at least one frame")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"frames: H.264 needs even height and width, got {height}x{width}")
    if fps <= 0:
        raise ValueError(f"fps: expected > 0, got {fps}")
    if audio is not None and sample_rate is None:
        raise ValueError("sample_rate: required when audio is given")
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        stream.codec_context.thread_count = 1
        audio_stream = None
        if audio is not None and sample_rate is not None:
            wave = np.atleast_2d(np.asarray(audio, dtype=np.float32))
            audio_stream = container.add_stream("aac", rate=sample_rate)
            audio_stream.layout = "stereo" if wave.shape[0] == 2 else "mono"
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio_stream is not None:
            _encode_audio(container, audio_stream, wave, int(sample_rate))  # type: ignore[arg-type]


def _encode_audio(container, stream, wave: np.ndarray, sample_rate: int) -> None:
    import av  # deferred: PyAV, as in write_mp4

    if wave.shape[0] > 2:
        raise ValueError(f"audio: expected 1 or 2 channels, got {wave.shape[0]}")
    chunk = 1024
    clipped = np.clip(wave, -1.0, 1.0)
    for start in range(0, clipped.shape[1], chunk):
        block = np.ascontiguousarray(clipped[:, start : start + chunk])
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=stream.layout.name)
        frame.sample_rate = sample_rate
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
