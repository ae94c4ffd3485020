"""Where a job's files land: only inside its folder as it resolved at submit, all or none."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from helpers_engine import DelayedIdentity, make_media

from avpc_plugin.engine.jobs import JobQueue
from avpc_plugin.engine.protocol import parse_job
from avpc_plugin.separate.separator import Separator


class Recorder:
    """A reply channel that keeps the messages and signals the job's last one."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, ...]] = []
        self.ended = threading.Event()

    def send(self, address: str, *args: Any) -> None:
        self.messages.append((address, *args))
        if address in ("/avpc/done", "/avpc/error", "/avpc/cancelled"):
            self.ended.set()

    def describe(self) -> str:
        return "recorder"


def test_an_output_folder_swapped_for_a_symlink_after_submit_is_not_written(
    tmp_path: Path,
) -> None:
    media = make_media(tmp_path, 1.0, rate=8000)
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    (root / "job").mkdir(parents=True)
    elsewhere.mkdir()
    description = {
        "source": str(media["wav"]),
        "video": str(media["video"]),
        "stems": [{"name": "a"}, {"name": "b"}],
        "out_dir": str(root / "job"),
    }
    spec = parse_job(json.dumps(description), output_root=root)
    (root / "job").rmdir()
    (root / "job").symlink_to(elsewhere)  # after the submit-time check
    queue = JobQueue(Separator(DelayedIdentity(), device="cpu"))
    reply = Recorder()
    queue.start()
    try:
        queue.submit(spec, reply)  # type: ignore[arg-type]
        assert reply.ended.wait(60)
    finally:
        queue.stop()
    address, code, message, *_ = reply.messages[-1]
    assert (address, code) == ("/avpc/error", "path_escape"), message
    assert list(elsewhere.rglob("*")) == []
