"""End-to-end separation speed: a synthetic clip with video, the paper-size AVPC, 2 stems.

Builds a stereo clip (default 60 s at 44.1 kHz, noise bursts) and a 25 fps 640x360 H.264 video of
the same length with two performers' halves, then times ``Separator.separate_to_files`` on it
(audio read, video decode, model, full-rate rendering, writing 24-bit wav) and reports the
real-time factor and the peak resident memory of the separation. Random weights: speed does not
depend on them.

The separation runs in a process of its own that reads the clip from disk, as ``avpc separate``
would, so its peak memory (``VmHWM``) is the Separator's alone, not the clip synthesis's.

    python benchmarks/separate_speed.py --seconds 60 --threads 2
    python benchmarks/separate_speed.py --seconds 1800      # the 30-minute memory target
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
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


def peak_rss_mb() -> float:
    """This process's peak resident set size (``VmHWM`` of /proc/self/status) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def separate_clip(
    wav: Path, video: Path, threads: int, device: str | None, batch_segments: int
) -> dict[str, float | str]:
    """Separate ``wav`` into two stems queried by the halves of ``video``; time and memory."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_net("avpc")
    separator = Separator(model, device=device, batch_segments=batch_segments)
    stems = [
        StemQuery("left", video, box=(0, 0, 0.5, 1)),
        StemQuery("right", video, box=(0.5, 0, 0.5, 1)),
    ]
    outputs = {name: wav.parent / f"{name}.wav" for name in ("left", "right")}
    began = time.perf_counter()
    separator.separate_to_files(wav, outputs, stems=stems)
    return {
        "wall_s": time.perf_counter() - began,
        "peak_rss_mb": peak_rss_mb(),
        "device": str(separator.device),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="clip length (s)")
    parser.add_argument("--rate", type=int, default=44100, help="sample rate (Hz)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: CUDA when present)")
    parser.add_argument("--batch-segments", type=int, default=4)
    parser.add_argument("--separate", nargs=2, type=Path, metavar=("WAV", "VIDEO"),
                        help=argparse.SUPPRESS)  # fmt: skip  # the child process's job
    args = parser.parse_args()
    if args.separate:
        wav, video = args.separate
        result = separate_clip(wav, video, args.threads, args.device, args.batch_segments)
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="avpc-bench-") as tmp:
        wav, video = make_clip(Path(tmp), args.seconds, args.rate)
        child = [sys.executable, __file__, "--separate", str(wav), str(video),
                 "--threads", str(args.threads), "--batch-segments", str(args.batch_segments),
                 *(["--device", args.device] if args.device else [])]  # fmt: skip
        done = subprocess.run(child, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    wall = float(result["wall_s"])
    print(
        f"device {result['device']}, threads {args.threads}, "
        f"AVPC {float(result['parameters']) / 1e6:.1f} M parameters"
    )
    print(
        f"{args.seconds:.0f} s of {args.rate} Hz stereo, 2 stems: {wall:.1f} s wall, "
        f"{args.seconds / wall:.2f}x real time, peak RSS of the separation "
        f"{float(result['peak_rss_mb']):.0f} MB"
    )


if __name__ == "__main__":
    main()
