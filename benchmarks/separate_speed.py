"""End-to-end separation speed: a synthetic clip with video, the paper-size AVPC, 2 stems.

Builds a stereo clip (default 60 s at 44.1 kHz, noise bursts) and a 25 fps 640x360 H.264 video of
the same length with two performers' halves, then times ``Separator.separate_to_files`` on it
(audio read, video decode, model, full-rate rendering, writing 24-bit wav) and reports the
real-time factor and the process's peak resident memory. Random weights: speed does not depend on
them.

    python benchmarks/separate_speed.py --seconds 60 --threads 2
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from avpc_plugin.audio.io import write_audio
from avpc_plugin.nets import build_net
from avpc_plugin.separate import Separator, StemQuery


def make_clip(folder: Path, seconds: float, rate: int) -> tuple[Path, Path]:
    """A stereo wav and a matching 25 fps 640x360 video (left / right halves change over time)."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((2, round(seconds * rate)))).astype(np.float32)
    wav = write_audio(folder / "clip.wav", audio, rate, "24")
    video = folder / "clip.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for index in range(round(seconds * 25) + 1):
            image = np.zeros((360, 640, 3), np.uint8)
            image[:, :320, 0] = (index * 3) % 256
            image[:, 320:, 2] = (index * 5) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return wav, video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="clip length (s)")
    parser.add_argument("--rate", type=int, default=44100, help="sample rate (Hz)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: CUDA when present)")
    parser.add_argument("--batch-segments", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory(prefix="avpc-bench-") as tmp:
        folder = Path(tmp)
        wav, video = make_clip(folder, args.seconds, args.rate)
        model = build_net("avpc")
        separator = Separator(model, device=args.device, batch_segments=args.batch_segments)
        stems = [
            StemQuery("left", video, box=(0, 0, 0.5, 1)),
            StemQuery("right", video, box=(0.5, 0, 0.5, 1)),
        ]
        outputs = {name: folder / f"{name}.wav" for name in ("left", "right")}
        began = time.perf_counter()
        separator.separate_to_files(wav, outputs, stems=stems)
        wall = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = sum(p.numel() for p in model.parameters())
    print(
        f"device {separator.device}, threads {args.threads}, AVPC {params / 1e6:.1f} M parameters"
    )
    print(
        f"{args.seconds:.0f} s of {args.rate} Hz stereo, 2 stems: {wall:.1f} s wall, "
        f"{args.seconds / wall:.2f}x real time, peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
