"""The engine killed mid-job, restarted on the same port, then stopped with SIGTERM mid-job."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
from helpers_engine import DelayedIdentity, EngineProcess, make_job, make_media, parse_stem

from avpc_plugin.audio.io import read_audio
from avpc_plugin.checkpoints.format import save_checkpoint


def job_for(media: dict[str, Path], out_dir: Path) -> dict:
    return make_job(str(media["wav"]), [parse_stem("a", str(media["video"]))], str(out_dir))


def wait_until_running(client, job_id: str) -> None:  # type: ignore[no-untyped-def]
    while True:
        message = client.poll(10)
        assert message is not None and message.job_id == job_id, message
        if message.address == "/avpc/progress" and message.args[1] > 0:
            return


def test_kill_restart_and_sigterm(tmp_path: Path) -> None:
    model = save_checkpoint(DelayedIdentity(delay=0.2), tmp_path / "models", "slow")
    media = make_media(tmp_path, 15.0, rate=8000, name="take")
    short = make_media(tmp_path, 1.0, rate=8000, name="short")
    out = tmp_path / "out"
    final = out / "take" / "a.wav"

    engine = EngineProcess(model, tmp_path / "engine.log", "--batch-segments", "1")
    try:
        client = engine.client()
        wait_until_running(client, client.submit(job_for(media, out)))
        engine.proc.kill()
        engine.proc.wait(10)
        client.close()
    finally:
        engine.kill()
    assert not final.exists()  # at most a hidden .partial file remains
    assert all(p.name.startswith(".") for p in out.rglob("*") if p.is_file())

    engine = EngineProcess(
        model, tmp_path / "engine.log", "--batch-segments", "1", "--port", str(engine.port)
    )
    try:
        client = engine.client()
        result = client.follow(client.submit(job_for(short, out)), silence_timeout=20)
        assert result.summary is not None
        audio, _ = read_audio(out / "short" / "a.wav")
        assert np.abs(audio - read_audio(short["wav"])[0]).max() < 1e-3

        second = out / "second"
        job_id = client.submit(job_for(media, second))
        wait_until_running(client, job_id)
        assert engine.terminate(timeout=10) == 0
        result = client.follow(job_id, silence_timeout=5)
        assert result.error is not None and result.error.code == "engine_shutdown"
        assert not (second / "take" / "a.wav").exists()
        assert [p for p in second.rglob("*") if p.is_file()] == []  # partials removed too
        assert "engine stopped" in (tmp_path / "engine.log").read_text()
    finally:
        engine.kill()


def test_repeated_sigint_while_idle_stops_the_engine_cleanly(tmp_path: Path) -> None:
    # Ctrl-C pressed again and again: every signal lands on the handler, none of them may take a
    # lock the main thread holds (Event.set() in a handler once hung the engine for good)
    model = save_checkpoint(DelayedIdentity(delay=0.0), tmp_path / "models", "idle")
    engine = EngineProcess(model, tmp_path / "engine.log")
    try:
        for _ in range(5):
            engine.proc.send_signal(signal.SIGINT)
            time.sleep(0.01)
        assert engine.proc.wait(10) == 0
    finally:
        engine.kill()
    log = (tmp_path / "engine.log").read_text()
    assert log.count("signal SIGINT: shutting down") == 1 and "engine stopped" in log


def test_shutdown_over_tcp_still_ends_every_job(tmp_path: Path) -> None:
    # a TCP client hears its jobs' final messages before the engine hangs up on it
    model = save_checkpoint(DelayedIdentity(delay=0.2), tmp_path / "models", "slow")
    media = make_media(tmp_path, 15.0, rate=8000, name="take")
    engine = EngineProcess(model, tmp_path / "engine.log", "--batch-segments", "1")
    try:
        client = engine.client("tcp")
        running = client.submit(job_for(media, tmp_path / "a"))
        queued = client.submit(job_for(media, tmp_path / "b"))
        wait_until_running(client, running)
        client.connection.send("/avpc/shutdown")
        ends = {}
        while len(ends) < 2:
            message = client.poll(10)
            assert message is not None, ends
            if message.address == "/avpc/error":
                ends[message.job_id] = message.args[0]
        assert ends == {running: "engine_shutdown", queued: "engine_shutdown"}
        assert engine.proc.wait(20) == 0
        assert [p for p in tmp_path.glob("[ab]/**/*") if p.is_file()] == []
    finally:
        engine.kill()
