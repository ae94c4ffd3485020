"""Where a job's files land: only inside its folder as it resolved at submit, all or none."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from helpers_engine import DelayedIdentity, make_media

from avpc_plugin.audio.provenance import read_provenance
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


def test_a_job_s_stems_record_where_they_come_from(tmp_path: Path) -> None:
    """Provenance comes with every job (source, start, box, preset, model); ``dither`` and
    ``video_tolerance`` reach the writer."""
    media = make_media(tmp_path, 1.0, rate=8000)
    out = tmp_path / "out"
    description = {
        "source": str(media["wav"]),
        "video": str(media["video"]),
        "start": 0.25,
        "stems": [{"name": "a", "box": [0, 0, 0.5, 1], "preset": "violin"}],
        "residual": True,
        "out_dir": str(out),
        "bit_depth": "16",
        "dither": False,
        "video_tolerance": 5,
    }
    spec = parse_job(json.dumps(description))
    separator = Separator(DelayedIdentity(), device="cpu", model_name="m", model_sha256="ab" * 32)
    seen: dict[str, Any] = {}
    separate = separator.separate_to_files

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return separate(*args, **kwargs)

    separator.separate_to_files = spy  # type: ignore[method-assign]
    queue = JobQueue(separator)
    reply = Recorder()
    queue.start()
    try:
        queue.submit(spec, reply)  # type: ignore[arg-type]
        assert reply.ended.wait(60)
    finally:
        queue.stop()
    assert reply.messages[-1][0] == "/avpc/done", reply.messages[-1]
    fields = read_provenance(spec.outputs["a"])
    assert fields["TIME_REFERENCE"] == fields["AVPC_START_SAMPLE"] == str(round(0.25 * 8000))
    assert fields["AVPC_SOURCE"] == str(media["wav"])
    assert (fields["AVPC_BOX"], fields["AVPC_PRESET"]) == ("0,0,0.5,1", "violin")
    assert (fields["AVPC_MODEL"], fields["AVPC_MODEL_SHA256"]) == ("m", "ab" * 8)
    assert read_provenance(spec.outputs["residual"])["AVPC_STEM"] == "residual"
    assert (seen["dither"], seen["video_tolerance"]) == (False, 5.0)
