"""The engine as a real process on loopback, driven over real OSC (UDP and TCP).

One engine serves the whole module: a test identity model (stems equal the input) that sleeps
0.1 s per model window, so jobs last long enough to watch and cancel.
"""

from __future__ import annotations

import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers_engine import (
    BRIDGE,
    Connection,
    DelayedIdentity,
    EngineError,
    EngineProcess,
    decode,
    make_job,
    make_media,
    parse_stem,
)
from pythonosc import slip

from avpc_plugin.audio.io import read_audio
from avpc_plugin.checkpoints.format import save_checkpoint
from avpc_plugin.engine.protocol import PROTOCOL_VERSION
from avpc_plugin.engine.transport import encode_message

TERMINAL = ("/avpc/done", "/avpc/error", "/avpc/cancelled")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("engine")
    model = save_checkpoint(DelayedIdentity(delay=0.1), root / "models", "slow-identity")
    media = {
        "short": make_media(root, 1.0, rate=8000, name="short"),
        "long": make_media(root, 40.0, rate=8000, name="long"),
    }
    engine = EngineProcess(model, root / "engine.log", "--batch-segments", "1")
    yield {"root": root, "engine": engine, "media": media}
    engine.kill()


def udp_exchange(port: int, data: bytes, timeout: float = 2.0) -> list[Any]:
    """Send one raw datagram, return the messages that come back within ``timeout``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        sock.sendto(data, ("127.0.0.1", port))
        try:
            return decode(sock.recv(65536))
        except TimeoutError:
            return []


def job_for(media: dict[str, Path], out_dir: Path, **options: Any) -> dict[str, Any]:
    return make_job(
        str(media["wav"]), [parse_stem("a", str(media["video"]))], str(out_dir), **options
    )


def test_ping_pong_over_udp_tcp_and_to_a_reply_port(setup: Any) -> None:
    engine = setup["engine"]
    for transport in ("udp", "tcp"):
        client = engine.client(transport)
        assert client.ping() < 1.0
        client.close()
    with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as sock:  # OSC 1.0 framing
        ping = encode_message("/avpc/ping", [])
        sock.sendall(struct.pack("!I", len(ping)) + ping)
        reply = sock.recv(4096)
        (length,) = struct.unpack("!I", reply[:4])
        assert reply[4 : 4 + length] == encode_message("/avpc/pong", [PROTOCOL_VERSION])
    listener = Connection("127.0.0.1", engine.port)
    sender = Connection("127.0.0.1", engine.port)
    sender.send("/avpc/ping", listener.local_port)
    message = listener.receive(2.0)
    assert message is not None and message.address == "/avpc/pong"
    assert sender.receive(0.2) is None  # the reply went to the named port only
    listener.close()
    sender.close()


def test_hello_models_and_presets(setup: Any) -> None:
    client = setup["engine"].client()
    hello = client.hello()
    assert hello["protocol"] == PROTOCOL_VERSION and hello["device"] == "cpu"
    assert hello["model"].startswith("slow-identity")
    assert client.models()["loaded"] == hello["model"]
    assert "default" in client.presets()
    client.close()


def test_job_end_to_end_over_tcp(setup: Any) -> None:
    # 30 s of audio: about 10 model windows of 0.1 s sleep each, so the job lasts over a second
    # on any machine and its progress rate can be checked
    media, out = setup["media"]["long"], setup["root"] / "e2e"
    client = setup["engine"].client("tcp")
    job = make_job(
        str(media["wav"]),
        [parse_stem("left@0,0,0.5,1", str(media["video"])), parse_stem("right=default")],
        str(out),
        video=str(media["video"]),
        start=1.0,
        end=31.0,
        bit_depth="32f",
        residual=True,
    )
    job_id = client.submit(job)
    result = client.follow(job_id, silence_timeout=10)
    client.close()
    assert result.error is None and result.summary is not None
    mix, rate = read_audio(media["wav"], start=1.0, end=31.0)
    assert [s.name for s in result.stems] == ["left", "right", "residual"]
    for stem in result.stems:
        assert (stem.start_sample, stem.sample_rate, stem.start_seconds) == (8000, 8000, 1.0)
        audio, stem_rate = read_audio(stem.path)
        expected = -mix if stem.name == "residual" else mix  # mix - left - right
        assert stem_rate == rate and audio.shape == mix.shape
        assert np.abs(audio - expected).max() < 1e-5
    times = result.progress_times  # from "started" (0.0) to "done" (1.0)
    assert times[-1] - times[0] > 0.75 and len(times) >= 4
    assert max(np.diff(times)) <= 0.5, "progress less often than twice a second"


def test_normalised_job_shares_the_mix_among_the_stems(setup: Any) -> None:
    # the identity model's masks are all ones: normalised, each of two stems gets half the mix
    media, out = setup["media"]["short"], setup["root"] / "normalised"
    client = setup["engine"].client()
    job = make_job(
        str(media["wav"]),
        [parse_stem("left@0,0,0.5,1"), parse_stem("right@0.5,0,0.5,1")],
        str(out),
        video=str(media["video"]),
        bit_depth="32f",
        residual=True,
        normalise=True,
    )
    result = client.follow(client.submit(job), silence_timeout=10)
    client.close()
    assert result.error is None, result.error
    mix, _ = read_audio(media["wav"])
    stems = {stem.name: read_audio(stem.path)[0] for stem in result.stems}
    assert set(stems) == {"left", "right", "residual"}
    for name in ("left", "right"):
        assert np.abs(stems[name] - mix / 2).max() < 1e-5
    assert np.abs(stems["residual"]).max() < 1e-5


def test_fuzz_storm_leaves_the_engine_serving(setup: Any) -> None:
    engine, media = setup["engine"], setup["media"]["short"]
    rng = random.Random(3)
    for _ in range(40):  # random bytes: answered bad_packet where they are not OSC at all
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        for message in udp_exchange(engine.port, junk, timeout=0.3):
            assert message.address == "/avpc/error"
    text = str(setup["root"] / "notes.txt")
    Path(text).write_text("hello")
    expected_codes = {
        encode_message("/avpc/submit", ["{}", 9000])[:-4]: "bad_packet",  # truncated
        encode_message("/avpc/ping", ["x"]): "bad_arguments",
        encode_message("/avpc/ping", [1, 2, 3]): "bad_arguments",
        encode_message("/avpc/submit", [5]): "bad_arguments",
        encode_message("/avpc/cancel", []): "bad_arguments",
        encode_message("/avpc/launch", []): "unknown_address",
        encode_message("/other/ping", []): "unknown_address",
        encode_message("/avpc/submit", ["{not json"]): "bad_json",
        encode_message("/avpc/submit", ['{"stems": 3}']): "invalid_job",
        encode_message("/avpc/submit", [json.dumps({"source": "/no/such.wav"})]): "bad_source",
        encode_message("/avpc/submit", [json.dumps({"source": text})]): "bad_source",
        encode_message("/avpc/cancel", ["nope"]): "unknown_job",
        encode_message("/avpc/status", ["nope"]): "unknown_job",
    }
    for data, code in expected_codes.items():
        replies = udp_exchange(engine.port, data)
        assert [m.address for m in replies] == ["/avpc/error"], (data, replies)
        assert replies[0].args[0] == code, (data, replies[0].args)
    # a job whose source is not what its name says fails in the worker, with its id
    fake = setup["root"] / "fake.wav"
    fake.write_bytes(b"RIFF but not really" * 10)
    client = engine.client()
    job_id = client.submit(job_for({"wav": fake, "video": media["video"]}, setup["root"] / "f"))
    result = client.follow(job_id, silence_timeout=10)
    assert result.error is not None and result.error.code == "bad_source"
    assert result.error.job_id == job_id
    # TCP: a 1 MB string, then a length prefix that announces 1 GB
    with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as sock:
        sock.sendall(slip.encode(encode_message("/avpc/submit", ["x" * 1_000_000])))
        reply = tcp_messages(sock)
        assert reply[0].address == "/avpc/error" and reply[0].args[0] == "too_large"
    with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as sock:
        sock.sendall(struct.pack("!I", 1 << 30) + b"\x00" * 64)
        reply = tcp_messages(sock)
        assert reply[0].args[0] == "too_large"
        assert sock.recv(100) == b""  # and the connection is closed
    for transport in ("udp", "tcp"):
        assert engine.client(transport).ping() < 1.0
    assert engine.proc.poll() is None


def test_packets_that_once_hung_or_looped_the_engine(setup: Any) -> None:
    engine = setup["engine"]
    log = engine.log_file
    # a bundle element of -4 bytes sent python-osc round in circles for good
    negative = b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", -4) + b"/avpc"
    [reply] = udp_exchange(engine.port, negative)
    assert reply.address == "/avpc/error" and reply.args[0] == "bad_packet"
    # a reply port that is the engine's own: it would answer its own pong forever
    [reply] = udp_exchange(engine.port, encode_message("/avpc/ping", [engine.port]))
    assert reply.args[0] == "bad_arguments" and "own port" in reply.args[1]
    # replies (another engine's, or its own looped back) are never answered
    assert udp_exchange(engine.port, encode_message("/avpc/error", ["x", "y", "", ""]), 0.5) == []
    # a malformed SLIP frame and a good one in one write: both answered at once
    with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as sock:
        ping = slip.encode(encode_message("/avpc/ping", []))
        sock.sendall(slip.END + b"/avpc\xdb\x01ping" + slip.END + ping)
        replies = tcp_messages(sock)
        while len(replies) < 2:
            replies += tcp_messages(sock)
        assert [m.address for m in replies] == ["/avpc/error", "/avpc/pong"]
    size = log.stat().st_size
    time.sleep(0.5)
    assert log.stat().st_size - size < 2000  # quiet: nothing is talking to itself
    for transport in ("udp", "tcp"):
        assert engine.client(transport).ping() < 1.0


def test_tcp_connections_are_capped_and_their_slots_come_back(setup: Any) -> None:
    port = setup["engine"].port
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(64)]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            assert extra.recv(10) == b""  # closed on arrival, no thread spent on it
        held[0].sendall(slip.encode(encode_message("/avpc/ping", [])))
        assert tcp_messages(held[0])[0].address == "/avpc/pong"  # the held ones are served
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.5)  # the handlers see their clients go
    assert setup["engine"].client("tcp").ping() < 1.0


def test_an_unwritable_output_folder_fails_as_output_failed(setup: Any) -> None:
    media, root = setup["media"]["short"], setup["root"] / "unwritable"
    root.mkdir()
    (root / "file").write_text("a file, not a folder")
    client = setup["engine"].client()
    job_id = client.submit(job_for(media, root / "file" / "sub"))
    result = client.follow(job_id, silence_timeout=10)
    assert result.error is not None and result.error.code == "output_failed"
    assert "cannot write" in result.error.message
    assert client.ping() < 1.0
    client.close()


def tcp_messages(sock: socket.socket) -> list[Any]:
    data = b""
    while not data.endswith(slip.END) or len(data) < 2:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if data[:1] == slip.END:
        return [m for frame in data.split(slip.END) if frame for m in decode(slip.decode(frame))]
    (length,) = struct.unpack("!I", data[:4])
    return decode(data[4 : 4 + length])


def test_three_clients_twenty_jobs(setup: Any) -> None:
    engine, media, root = setup["engine"], setup["media"]["short"], setup["root"] / "load"
    clients = [engine.client("udp", 10), engine.client("udp", 10), engine.client("tcp", 10)]
    plans = {0: range(0, 7), 1: range(7, 14), 2: range(14, 20)}
    # a stem video that is not a video: accepted at submit (only its name is checked there),
    # fails in the worker when its frames are read
    failing = {5, 12}
    root.mkdir(parents=True, exist_ok=True)
    broken = root / "broken.mp4"
    broken.write_bytes(b"not a video, only its name says so")
    broken_job = make_job(str(media["wav"]), [parse_stem("a", str(broken))], "")
    accepted: dict[str, int] = {}
    terminal: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        client = clients[index]
        try:
            ids = []
            for n in plans[index]:
                job = job_for(media, root / f"job{n}")
                if n in failing:
                    job = dict(broken_job, out_dir=str(root / f"job{n}"))
                job_id = client.submit(job)
                with lock:
                    accepted[job_id] = n
                ids.append(job_id)
            deadline = time.monotonic() + 60
            open_ids = set(ids)
            while open_ids and time.monotonic() < deadline:
                message = client.poll(1.0)
                if message is not None and message.address in TERMINAL:
                    with lock:
                        terminal.append((message.job_id, message.address))
                    open_ids.discard(message.job_id)
            while (message := client.poll(0.3)) is not None:  # anything answered twice?
                if message.address in TERMINAL:
                    with lock:
                        terminal.append((message.job_id, message.address))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    for client in clients:
        client.close()
    assert not errors, errors
    assert sorted(accepted.values()) == list(range(20))
    counts = Counter(job_id for job_id, _ in terminal)
    assert set(counts) == set(accepted) and set(counts.values()) == {1}
    mix, _ = read_audio(media["wav"])
    for job_id, address in terminal:
        n = accepted[job_id]
        assert address == ("/avpc/error" if n in failing else "/avpc/done")
        if n not in failing:
            audio, _ = read_audio(root / f"job{n}" / "short" / "a.wav")
            assert np.abs(audio - mix).max() < 1e-3  # 24-bit files


def test_cancel_stops_within_a_second_and_leaves_no_file(setup: Any) -> None:
    media, out = setup["media"]["long"], setup["root"] / "cancel"
    client = setup["engine"].client()
    job_id = client.submit(job_for(media, out))
    while True:  # wait until the separation is under way
        message = client.poll(10)
        assert message is not None and message.address == "/avpc/progress"
        if message.args[1] > 0:
            break
    asked = time.monotonic()
    client.cancel(job_id)
    result = client.follow(job_id, silence_timeout=5)
    assert result.cancelled and time.monotonic() - asked < 1.0
    assert [p for p in out.rglob("*") if p.is_file()] == []
    with pytest.raises(EngineError, match="job_finished"):
        client.request("/avpc/cancel", job_id, expect="/avpc/cancelled", job_id=job_id)
    assert client.status(job_id)["job"]["state"] == "cancelled"
    client.close()


def test_following_a_queued_job_outlasts_the_silence_before_it_runs(setup: Any) -> None:
    # only the running job sends progress: a job queued behind it is silent until it starts,
    # and the controller asks the engine before it gives up on it
    root = setup["root"] / "queued"
    other, client = setup["engine"].client(), setup["engine"].client()
    running = other.submit(job_for(setup["media"]["long"], root))
    queued = client.submit(job_for(setup["media"]["short"], root))
    result = client.follow(queued, silence_timeout=0.3)
    assert result.summary is not None and (root / "short" / "a.wav").is_file()
    assert other.follow(running, silence_timeout=10).summary is not None
    other.close()
    client.close()


def test_existing_outputs_and_escaping_paths_are_refused(setup: Any) -> None:
    media, out = setup["media"]["short"], setup["root"] / "refuse"
    target = out / "short" / "a.wav"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"keep me")
    client = setup["engine"].client()
    with pytest.raises(EngineError) as caught:
        client.submit(job_for(media, out))
    assert caught.value.code == "output_exists" and str(target) in caught.value.message
    assert target.read_bytes() == b"keep me"
    with pytest.raises(EngineError) as caught:
        client.submit(job_for(media, out, template="../../{stem}.{ext}"))
    assert caught.value.code == "path_escape"
    assert not (setup["root"] / "a.wav").exists()
    job_id = client.submit(job_for(media, out, overwrite=True))
    assert client.follow(job_id, silence_timeout=10).summary is not None
    assert read_audio(target)[0].shape == (2, 8000)
    client.close()


def test_controller_command_line(setup: Any) -> None:
    media, out, port = setup["media"]["short"], setup["root"] / "cli", setup["engine"].port
    script = [sys.executable, str(BRIDGE / "avpc_controller.py"), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ping = subprocess.run([*script, "ping"], capture_output=True, text=True, timeout=30, env=env)
    assert ping.returncode == 0 and "pong in" in ping.stdout
    separate = [
        *script,
        "--tcp",
        "separate",
        str(media["wav"]),
        "--video",
        str(media["video"]),
        "--stem",
        "violin@0,0,0.5,1",
        "--out",
        str(out),
        "--start",
        "0.5",
    ]
    done = subprocess.run(separate, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    tag, name, path, seconds, sample = line.split("\t")
    assert (tag, name, Path(path)) == ("STEM", "violin", out / "short" / "violin.wav")
    assert (float(seconds), int(sample)) == (0.5, 4000)
    again = subprocess.run(separate, capture_output=True, text=True, timeout=60, env=env)
    assert again.returncode == 1 and "output_exists" in again.stderr
    cancel = subprocess.run([*script, "cancel", "nope"], capture_output=True, text=True, env=env)
    assert cancel.returncode == 1 and "unknown_job" in cancel.stderr  # not silence and status 0


def test_the_controller_fails_fast_on_a_dead_engine(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from helpers_engine import EngineClient

    client = EngineClient.connect("127.0.0.1", port, timeout=30.0)
    began = time.monotonic()
    with pytest.raises(EngineError) as caught:
        client.ping()
    assert caught.value.code == "unreachable" and time.monotonic() - began < 2.0
    client.close()
    script = [sys.executable, str(BRIDGE / "avpc_controller.py"), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    began = time.monotonic()
    ping = subprocess.run(
        [*script, "--timeout", "20", "ping"], capture_output=True, text=True, timeout=30, env=env
    )
    assert ping.returncode == 1 and "unreachable" in ping.stderr
    assert time.monotonic() - began < 10.0
    began = time.monotonic()
    tcp = subprocess.run(
        [*script, "--tcp", "--timeout", "0.5", "ping"], capture_output=True, text=True, env=env
    )
    assert tcp.returncode == 1 and time.monotonic() - began < 10.0


def test_a_huge_job_id_still_gets_a_bounded_error_reply(setup: Any) -> None:
    port = setup["engine"].port
    huge = "x" * 33_000
    for address in ("/avpc/cancel", "/avpc/status"):
        [reply] = udp_exchange(port, encode_message(address, [huge]))
        assert reply.address == "/avpc/error" and reply.args[0] == "unknown_job"
        assert len(reply.args[2]) == 64 and reply.args[2].endswith("\u2026")
        assert huge not in reply.args[1]
    log = setup["engine"].log_file.read_text()
    assert "<avpc_plugin" not in log and "object at 0x" not in log
