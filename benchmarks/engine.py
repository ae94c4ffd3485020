"""Engine latency: ping round trip, job acknowledgement while a job runs, warm second job.

Starts ``avpc engine`` as a child process on a free loopback port with a paper-size "avpc" net
(random weights, saved as a checkpoint in a temporary folder; or ``--model``), then measures over
real OSC with the plain controller (``bridge/avpc_controller.py``):

- ping round trip (UDP and TCP), median and 95th percentile, target < 5 ms median;
- ``/avpc/submit`` -> ``/avpc/accepted`` while another job runs, target < 50 ms;
- the first and the second job on the same input: the engine loaded the model once at start, so
  the second job costs the same as the first (no model loading).

Prints a Markdown table.

    python benchmarks/engine.py --seconds 20
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

BRIDGE = Path(__file__).resolve().parent.parent / "bridge"
sys.path.insert(0, str(BRIDGE))

from avpc_controller import EngineClient, make_job, parse_stem  # noqa: E402

from avpc_plugin.audio.io import write_audio  # noqa: E402


def make_media(folder: Path, seconds: float) -> tuple[Path, Path]:
    """A 44.1 kHz stereo noise wav and a 25 fps 320x180 video of the same length."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((2, round(seconds * 44100)))).astype(np.float32)
    wav = write_audio(folder / "take.wav", audio, 44100, "24")
    video = folder / "take.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for index in range(round(seconds * 25) + 25):
            image = np.full((180, 320, 3), (index * 5) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return wav, video


def start_engine(
    model: str, log: Path, device: str | None
) -> tuple[subprocess.Popen[str], int, float]:
    """The engine process, its port and the seconds until it served (includes model loading)."""
    command = [sys.executable, "-m", "avpc_plugin.engine", "--model", model, "--port", "0"]
    command += ["--tcp", "--log-file", str(log)] + (["--device", device] if device else [])
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("avpc engine ready:"):
            port = int(line.split()[3].rsplit(":", 1)[1])
            return proc, port, time.perf_counter() - began
    raise RuntimeError("the engine did not start (see its log)")


def ping_times(client: EngineClient, count: int) -> list[float]:
    for _ in range(10):  # warm up
        client.ping()
    return [client.ping() for _ in range(count)]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", default=None, help="registry name or checkpoint (default: random avpc)"
    )
    parser.add_argument("--device", default=None)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the test input")
    parser.add_argument("--pings", type=int, default=300)
    parser.add_argument("--submits", type=int, default=10, help="submits timed while a job runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = args.model
        if model is None:
            from avpc_plugin.checkpoints.format import save_checkpoint
            from avpc_plugin.nets import build_net

            model = str(save_checkpoint(build_net("avpc"), folder / "models", "bench-avpc"))
        wav, video = make_media(folder, args.seconds)
        proc, port, startup = start_engine(model, folder / "engine.log", args.device)
        rows: list[tuple[str, str, str]] = []
        try:
            udp = EngineClient.connect("127.0.0.1", port, "udp", timeout=10)
            tcp = EngineClient.connect("127.0.0.1", port, "tcp", timeout=10)
            device = udp.hello()["device"]
            for name, client in (("UDP", udp), ("TCP", tcp)):
                times = ping_times(client, args.pings)
                rows.append(
                    (
                        f"ping round trip, {name} (median / p95)",
                        f"{statistics.median(times) * 1e3:.2f} / "
                        f"{percentile(times, 95) * 1e3:.2f} ms",
                        "< 5 ms median",
                    )
                )

            def job(out: str) -> dict:
                return make_job(str(wav), [parse_stem("a", str(video))], str(folder / out))

            first = udp.follow(udp.submit(job("first")), silence_timeout=600)
            running = udp.submit(job("running"))
            acks = []
            for index in range(args.submits):
                began = time.perf_counter()
                job_id = tcp.submit(job(f"queued{index}"))
                acks.append(time.perf_counter() - began)
                tcp.cancel(job_id)
            second = udp.follow(running, silence_timeout=600)
            assert first.summary is not None and second.summary is not None
            rows.append(
                (
                    "submit -> accepted while a job runs (median / max)",
                    f"{statistics.median(acks) * 1e3:.2f} / {max(acks) * 1e3:.2f} ms",
                    "< 50 ms",
                )
            )
            rows.append(("engine start incl. model loading", f"{startup:.2f} s", "paid once"))
            rows.append(
                (
                    f"job 1 / job 2 ({args.seconds:g} s input, 1 stem)",
                    f"{first.summary['seconds']:.2f} / {second.summary['seconds']:.2f} s",
                    "job 2 pays no loading",
                )
            )
            udp.shutdown()
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()

    print(f"Engine latency on {device}, loopback\n")
    print("| measure | value | target |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")


if __name__ == "__main__":
    main()
