"""The REAPER script's logic that needs no REAPER: job building, stem positions, status text."""

from __future__ import annotations

import importlib.util

import pytest
from helpers_engine import BRIDGE, EngineError, JobTracker, Message

spec = importlib.util.spec_from_file_location(
    "avpc_separate", BRIDGE / "reaper" / "avpc_separate.py"
)
assert spec is not None and spec.loader is not None
reaper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reaper)


def test_the_job_covers_the_part_of_the_source_the_item_plays() -> None:
    stems = reaper.parse_stem_list("violin@0,0,0.5,1; cello=default+0.5 ;")
    assert stems == [
        {"name": "violin", "box": [0.0, 0.0, 0.5, 1.0]},
        {"name": "cello", "preset": "default", "offset": 0.5},
    ]
    job = reaper.build_job("/m/take.wav", 12.5, 30.0, 1.0, stems, "/m/stems", "/m/cam.mp4", 0.2)
    assert (job["source"], job["video"], job["start"], job["end"]) == (
        "/m/take.wav",
        "/m/cam.mp4",
        12.5,
        42.5,
    )
    assert [s["offset"] for s in job["stems"]] == [0.2, 0.5]  # a stem's own offset wins
    assert "video" not in reaper.build_job("/m/concert.MP4", 0.0, 1.0, 1.0, stems, "/o")
    assert job["normalise"] is False
    shared = reaper.build_job("/m/concert.mp4", 0.0, 1.0, 1.0, stems, "/o", normalise=True)
    assert shared["normalise"] is True


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (("/m/take.wav", 0.0, 10.0, 2.0), "rate 2"),
        (("/m/take.wav", 0.0, 0.0, 1.0), "no length"),
        (("/m/take.wav", 0.0, 10.0, 1.0), "video item"),
    ],
)
def test_items_that_cannot_be_separated(args: tuple, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        reaper.build_job(*args, [{"name": "a"}], "/o")
    with pytest.raises(ValueError, match="no stem"):
        reaper.parse_stem_list(" ; ")


def test_stems_land_where_their_audio_was() -> None:
    assert reaper.stem_position(100.0, 12.5, 12.5) == 100.0
    assert reaper.stem_position(100.0, 12.5, 13.0) == pytest.approx(100.5)


def test_progress_text_follows_the_job() -> None:
    tracker = JobTracker("j1")
    tracker.feed(Message("/avpc/progress", ("j1", 0.425, "windows 3/7")))
    tracker.feed(Message("/avpc/progress", ("other", 0.9, "not ours")))
    assert reaper.progress_text(tracker) == "AVPC:  42.5% windows 3/7"
    tracker.feed(Message("/avpc/stem", ("j1", "violin", "/o/violin.wav", 12.5, 600000, 48000)))
    tracker.feed(Message("/avpc/done", ("j1", "{}")))
    assert reaper.progress_text(tracker) == "AVPC: done, 1 stem(s)"
    failed = JobTracker("j2")
    failed.feed(Message("/avpc/error", ("bad_source", "x.wav: cannot read", "j2", "")))
    assert reaper.progress_text(failed) == "AVPC: failed: x.wav: cannot read"
    assert isinstance(failed.error, EngineError) and failed.finished


class SilentClient:
    """Stands in for EngineClient: hands out the given messages, then nothing."""

    def __init__(self, messages: list[Message], state: str) -> None:
        self.messages, self.state, self.closed = list(messages), state, False

    def poll(self, timeout: float = 0.0) -> Message | None:
        return self.messages.pop(0) if self.messages else None

    def job_state(self, job_id: str) -> str:
        return self.state

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("state", ["queued", "timeout"])
def test_the_poll_loop_shows_changes_only_and_stops_when_the_engine_lost_the_job(
    monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    shown: list[str] = []
    armed: list[str] = []
    for name, stub in {
        "RPR_ShowConsoleMsg": shown.append,
        "RPR_defer": armed.append,
        "RPR_UpdateArrange": lambda: None,
        "RPR_Undo_OnStateChange": lambda text: None,
    }.items():
        monkeypatch.setitem(vars(reaper), name, stub)
    clock = [1000.0]
    monkeypatch.setattr(reaper.time, "monotonic", lambda: clock[0])
    progress = Message("/avpc/progress", ("j1", 0.03, "windows 2/33"))
    client = SilentClient([progress], state)
    monkeypatch.setattr(reaper, "_state", {"client": client, "tracker": JobTracker("j1")})
    for _ in range(50):  # UI ticks with no news: the line is shown once, not 50 times
        reaper._poll()
    assert shown == ["AVPC:   3.0% windows 2/33\n"] and len(armed) == 50
    clock[0] += reaper.SILENCE_S + 1  # a long silence: the engine is asked about the job
    reaper._poll()
    if state == "queued":  # still waiting its turn: keep following
        assert len(armed) == 51 and not client.closed
    else:  # the engine is gone: say so once and stop
        assert len(armed) == 50 and client.closed
        assert "engine says: timeout; stopped following it" in shown[-1]
