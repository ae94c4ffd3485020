"""Atomic writes: the final name holds the old or the new content, never a partial file."""

from pathlib import Path

import pytest

from avpc_plugin.atomic import write_bytes_atomically, write_staged_file, write_text_atomically


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
