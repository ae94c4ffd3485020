"""Shared pieces of the engine tests: a test identity net, test media, a real engine process.

Run as a script it is ``avpc engine`` with the test net registered (the engine process must know
the net class to load the checkpoint): ``python tests/helpers_engine.py --model X.pt --port 0``.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from torch import Tensor, nn

from avpc_plugin.nets.registry import register_net

BRIDGE = Path(__file__).resolve().parent.parent / "bridge"
if str(BRIDGE) not in sys.path:
    sys.path.insert(0, str(BRIDGE))

from avpc_controller import (  # noqa: E402  (re-exported for the engine tests)
    Connection,
    EngineClient,
    EngineError,
    JobTracker,
    Message,
    decode,
    make_job,
    parse_stem,
)

__all__ = [
    "Connection",
    "EngineClient",
    "EngineError",
    "JobTracker",
    "Message",
    "decode",
    "make_job",
    "parse_stem",
]


@register_net("engine-test-identity")
class DelayedIdentity(nn.Module):
    """Mask logits of +30 everywhere (mask 1.0, stems equal the input), after sleeping ``delay``
    seconds per model batch, so a job lasts as long as a test needs."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.delay = delay
        self.config: dict[str, Any] = {"delay": delay}

    def visual_features(self, frames: Tensor) -> Tensor:
        return frames.mean(dim=(2, 3, 4, 5))

    def masks_from_features(self, mix_mag: Tensor, features: Tensor, cycles: Any = None) -> Tensor:
        if self.delay:
            time.sleep(self.delay)
        return (30.0 * self.scale).expand(features.shape[0], features.shape[1], 256, 256)


def make_video(path: Path, seconds: float, fps: int = 4, size: int = 32) -> Path:
    """A small silent H.264 video, ``seconds`` long, whose grey level changes every frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(round(seconds * fps)):
            image = np.full((size, size, 3), (index * 37) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_media(root: Path, seconds: float, rate: int = 16000, name: str = "mix") -> dict[str, Path]:
    """A stereo noise wav (``rate`` Hz, float) and a silent video a second longer."""
    from avpc_plugin.audio.io import write_audio

    rng = np.random.default_rng(7)
    audio = np.clip(0.2 * rng.standard_normal((2, round(seconds * rate))), -0.9, 0.9)
    return {
        "wav": write_audio(root / f"{name}.wav", audio.astype(np.float32), rate, "32f"),
        "video": make_video(root / f"{name}.mp4", seconds + 1),
    }


class EngineProcess:
    """``avpc engine`` as a child process on a free loopback port (UDP and TCP)."""

    def __init__(self, model: Path, log_file: Path, *extra: str) -> None:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--model",
            str(model),
            "--port",
            "0",
            "--tcp",
            "--device",
            "cpu",
            "--log-file",
            str(log_file),
            *extra,
        ]
        # the tests' folder (this file) and the checkout they test, not whichever avpc_plugin the
        # environment has installed
        here = Path(__file__).resolve().parent
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(here), str(here.parent)]))
        self.log_file = log_file
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.port = self._wait_ready(timeout=60.0)

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def _wait_ready(self, timeout: float) -> int:
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith("avpc engine ready:"):
                udp = line.split()[3]
                assert udp.startswith("udp=")
                return int(udp.rsplit(":", 1)[1])
        self.kill()
        raise RuntimeError(f"engine did not start:\n{''.join(self.stderr_lines)}")

    def client(self, transport: str = "udp", timeout: float = 5.0) -> EngineClient:
        return EngineClient(Connection("127.0.0.1", self.port, transport), timeout)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


if __name__ == "__main__":
    from avpc_plugin.engine.cli import engine_command

    engine_command()
