"""A generated test video whose frames say their own index, shared by the video and separation
tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from avpc_plugin.video.decode import IMAGENET_MEAN, IMAGENET_STD

FPS = 10
WIDTH, HEIGHT = 64, 48


def digit_levels(index: int) -> tuple[int, int]:
    """Grey levels of the top band's left and right halves in frame ``index`` (< 100) of
    :func:`make_marker_video`: its tens and its units, 20 grey levels apart."""
    return 20 + 20 * (index // 10), 20 + 20 * (index % 10)


def index_from_levels(left: float, right: float) -> int:
    """Inverse of :func:`digit_levels`, robust to a few grey levels of coding error."""
    return 10 * round((left - 20) / 20) + round((right - 20) / 20)


def make_marker_video(
    path: Path, frames: int = 100, audio: np.ndarray | None = None, sample_rate: int = 44100
) -> Path:
    """A near-lossless test video: the top half's grey levels count frames (:func:`digit_levels`),
    the bottom half is black (left) and white (right); optionally with an audio track
    (``(channels, samples)`` float, written as flac)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "0"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv444p"
        audio_stream = None
        if audio is not None:
            layout = "mono" if audio.shape[0] == 1 else "stereo"
            audio_stream = container.add_stream("flac", rate=sample_rate, layout=layout)
        for index in range(frames):
            image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
            image[: HEIGHT // 2, : WIDTH // 2], image[: HEIGHT // 2, WIDTH // 2 :] = digit_levels(
                index
            )
            image[HEIGHT // 2 :, WIDTH // 2 :] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio is not None and audio_stream is not None:
            pcm = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)
            for start in range(0, pcm.shape[1], 4096):
                chunk = np.ascontiguousarray(pcm[:, start : start + 4096].T.reshape(1, -1))
                frame = av.AudioFrame.from_ndarray(
                    chunk, format="s16", layout=audio_stream.layout.name
                )
                frame.sample_rate = sample_rate
                frame.pts, frame.time_base = start, Fraction(1, sample_rate)
                for packet in audio_stream.encode(frame):
                    container.mux(packet)
            for packet in audio_stream.encode():
                container.mux(packet)
    return path


def frame_index_of(image: np.ndarray) -> int:
    """Frame index encoded in a decoded RGB frame's top band."""
    return index_from_levels(float(image[5, 8, 0]), float(image[5, WIDTH - 8, 0]))


def unnormalise(frames: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised (T, 3, H, W) back to 0..255."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (frames * std + mean) * 255


def make_camera_mp4(
    path: Path, seconds: float = 3.0, rate: int = 44100, fps: int = 10, faststart: bool = True
) -> Path:
    """A small camera-like mp4: H.264 frames (a grey level that changes every frame) and stereo
    AAC noise, interleaved; ``faststart`` puts the index (and so the stated durations) first, as
    cameras and exports often do, so a cut-off copy still states the whole length."""
    rng = np.random.default_rng(3)
    audio = (0.2 * rng.standard_normal((2, round(seconds * rate)))).astype(np.float32)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = 32
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=rate, layout="stereo")
        done = 0
        for index in range(round(seconds * fps)):
            image = np.full((32, 32, 3), (index * 37) % 256, np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            stop = min(round((index + 1) * rate / fps), audio.shape[1])
            while done < stop:
                chunk = np.ascontiguousarray(audio[:, done : min(done + 1024, stop)])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = rate, done
                frame.time_base = Fraction(1, rate)
                for packet in sound.encode(frame):
                    container.mux(packet)
                done += chunk.shape[1]
        for stream in (video, sound):
            for packet in stream.encode():
                container.mux(packet)
    return path
