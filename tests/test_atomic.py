"""Atomic writes: the final name holds the old or the new content, never a partial file."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avpc_plugin.atomic import write_bytes_atomically, write_staged_file, write_text_atomically
from avpc_plugin.audio.io import (
    STALE_PARTIAL_SECONDS,
    AtomicAudioWriter,
    AudioWriteError,
    OutputEscapeError,
    commit_together,
    read_audio,
    remove_stale_partials,
    write_audio,
)


def test_write_replaces_content_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "index.json"
    write_text_atomically(target, "old")
    write_text_atomically(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["index.json"]


def test_refuses_to_overwrite_when_asked_not_to(tmp_path: Path) -> None:
    target = write_bytes_atomically(tmp_path / "a.bin", b"kept")
    with pytest.raises(FileExistsError, match=r"a\.bin"):
        write_bytes_atomically(target, b"lost", overwrite=False)
    assert target.read_bytes() == b"kept"


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_text_atomically(tmp_path / "session.xml", "complete")

    def fail_halfway(handle: object) -> None:
        handle.write(b"parti")  # type: ignore[attr-defined]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_staged_file(tmp_path, target.name, fail_halfway)
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["session.xml"]


# ------------------------------------------------------------------ audio files (AtomicAudioWriter)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_partials_a_killed_writer_left_are_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "stems" / "violin.wav"
    script = (
        "import sys, time, numpy as np\n"
        "from avpc_plugin.audio.io import AtomicAudioWriter\n"
        f"w = AtomicAudioWriter({str(target)!r}, 8000, 1)\n"
        "w.write(np.zeros((1, 80000), np.float32))\n"
        "print('written', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "written\n"
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed = [p for p in target.parent.iterdir() if p.name.endswith(".partial.wav")]
    assert len(killed) == 1 and killed[0].name.startswith(f".violin.wav.{child.pid}-")
    folder = target.parent
    dead = _dead_pid()
    stale_empty = folder / f".violin.wav.{dead}-0123abcd.partial.wav"
    old_style = folder / ".violin.wav.89abcdef.partial.wav"  # before pids were in the name
    fresh_old_style = folder / ".violin.wav.00aa11bb.partial.wav"
    live = folder / f".violin.wav.{os.getppid()}-a1b2c3d4.partial.wav"  # a running writer
    other_output = folder / f".cello.wav.{dead}-0123abcd.partial.wav"
    user_files = [folder / ".violin.wav.notes", folder / f".violin.wav.{dead}-0123abcd.txt"]
    for path in [stale_empty, old_style, fresh_old_style, live, other_output, *user_files]:
        path.touch()
    hours_ago = time.time() - 2 * 3600
    os.utime(old_style, (hours_ago, hours_ago))

    write_audio(target, np.zeros((1, 800), np.float32), 8000)

    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted(
        p.name for p in [target, fresh_old_style, live, other_output, *user_files]
    )
    days_ago = time.time() - 2 * STALE_PARTIAL_SECONDS
    os.utime(live, (days_ago, days_ago))  # a pid reused long after its writer died
    assert remove_stale_partials(target) == [live]


def test_a_job_set_is_committed_together_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    kept = write_audio(folder / "b.wav", np.full((1, 100), 0.5, np.float32), 8000)
    writers = [AtomicAudioWriter(folder / f"{name}.wav", 8000, 1, overwrite=True) for name in "abc"]
    for writer in writers:
        writer.write(np.zeros((1, 400), np.float32))
    real_replace = os.replace
    calls: list[str] = []

    def fail_on_c(src: Any, dst: Any, **kwargs: Any) -> None:
        calls.append(str(dst))
        if str(dst) == "c.wav":
            raise OSError(28, "No space left on device")
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", fail_on_c)
    with pytest.raises(AudioWriteError, match="No space left"):
        commit_together(writers)
    monkeypatch.setattr(os, "replace", real_replace)
    assert "a.wav" in calls and "b.wav" in calls  # a and b had been renamed, then taken back
    assert sorted(p.name for p in folder.iterdir()) == ["b.wav"]
    assert read_audio(kept)[0].max() == pytest.approx(0.5, abs=1e-3)  # the old b is back

    writers = [AtomicAudioWriter(folder / f"{name}.wav", 8000, 1, overwrite=True) for name in "ab"]
    for writer in writers:
        writer.write(np.zeros((1, 400), np.float32))
    assert commit_together(writers) == [folder / "a.wav", folder / "b.wav"]
    assert sorted(p.name for p in folder.iterdir()) == ["a.wav", "b.wav"]
    assert read_audio(kept)[0].max() == 0.0


def test_a_folder_swapped_for_a_symlink_is_not_written_through(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    elsewhere.mkdir()
    writer = AtomicAudioWriter(root / "job" / "a.wav", 8000, 1, root=root)
    writer.write(np.zeros((1, 400), np.float32))
    (root / "job").rename(elsewhere / "job")
    (root / "job").symlink_to(elsewhere / "job")
    with pytest.raises(OutputEscapeError, match="outside"):
        writer.commit()
    assert list((elsewhere / "job").iterdir()) == []
    with pytest.raises(OutputEscapeError):
        AtomicAudioWriter(root / "job" / "b.wav", 8000, 1, root=root)
    assert list((elsewhere / "job").iterdir()) == []
