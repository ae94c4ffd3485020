"""AVPC separate (REAPER ReaScript, Python): selected item -> stems on new tracks, aligned.

Select the audio item (and, if the footage is a separate item, the video item too), run the
action, enter the stems. The script submits a job to the running ``avpc engine``, follows its
progress in a ``defer`` loop (REAPER's UI stays live) and inserts each finished stem on a new track
named after the stem, at the position its audio came from. Install: see README.md next to it.

Everything that does not touch REAPER lives in plain functions (``build_job``,
``stem_position``, ``progress_text``, ``parse_stem_list``) so it is tested without REAPER.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from avpc_controller import (
    EngineClient,
    EngineError,
    JobTracker,
    make_job,
    parse_stem,
)

ENGINE_HOST = os.environ.get("AVPC_ENGINE_HOST", "127.0.0.1")
ENGINE_PORT = int(os.environ.get("AVPC_ENGINE_PORT", "9000"))
SILENCE_S = 30.0
"""Seconds without news after which the engine is asked whether it still has the job."""
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".m4v", ".webm", ".avi")


# ------------------------------------------------------------------------- REAPER-free logic


def parse_stem_list(text: str, video: str | None = None) -> list[dict[str, Any]]:
    """``"violin@0,0,0.5,1; cello=default@0.5,0,0.5,1"`` -> stem objects (``;`` between stems).

    Raises:
        ValueError: no stem, or a malformed one.
    """
    stems = [parse_stem(part, video) for part in text.split(";") if part.strip()]
    if not stems:
        raise ValueError("no stem given: e.g. violin@0,0,0.5,1; cello@0.5,0,0.5,1")
    return stems


def build_job(
    source: str,
    take_offset: float,
    item_length: float,
    playrate: float,
    stems: list[dict[str, Any]],
    out_dir: str,
    video: str | None = None,
    video_offset: float = 0.0,
    normalise: bool = False,
) -> dict[str, Any]:
    """The job for a media item: the part of ``source`` the item plays.

    Args:
        source: the take's source file (absolute).
        take_offset: seconds into the source where the item starts (take ``D_STARTOFFS``).
        item_length: seconds of the item on the timeline (``D_LENGTH``).
        playrate: the take's ``D_PLAYRATE``; only 1.0 is supported (stems must line up).
        stems: stem objects (:func:`parse_stem_list`); stems without video use ``video``.
        video: footage for the stems (None: the source itself must be a video).
        video_offset: seconds added to audio times to get video times, for every stem that does
            not set its own.
        normalise: the stems share the mix (for when they name every instrument that plays).

    Raises:
        ValueError: a play rate other than 1, a non-positive length, or no video.
    """
    if abs(playrate - 1.0) > 1e-9:
        raise ValueError(f"the take plays at rate {playrate:g}; set it to 1.0 to separate it")
    if item_length <= 0:
        raise ValueError(f"the item has no length ({item_length:g} s)")
    if video is None and not source.lower().endswith(VIDEO_EXTENSIONS):
        raise ValueError("select the video item too (the audio item is not a video file)")
    with_offsets = [dict({"offset": video_offset}, **stem) for stem in stems]
    return make_job(
        source,
        with_offsets,
        out_dir,
        video=video,
        start=max(0.0, take_offset),
        end=max(0.0, take_offset) + item_length,
        normalise=normalise,
    )


def stem_position(item_position: float, take_offset: float, stem_start_seconds: float) -> float:
    """Timeline position of a stem that starts ``stem_start_seconds`` into the source, for an
    item at ``item_position`` whose take starts ``take_offset`` into the same source."""
    return item_position + (stem_start_seconds - take_offset)


def progress_text(tracker: JobTracker) -> str:
    """One status line for the job."""
    if tracker.error is not None:
        return f"AVPC: failed: {tracker.error.message}"
    if tracker.cancelled:
        return "AVPC: cancelled"
    if tracker.summary is not None:
        return f"AVPC: done, {len(tracker.stems)} stem(s)"
    return f"AVPC: {tracker.fraction * 100:5.1f}% {tracker.message}"


# --------------------------------------------------------------------------- REAPER glue

_state: dict[str, Any] = {}


def _rpr(name: str) -> Any:
    """A REAPER API function (ReaScript puts them in the script's globals)."""
    return globals()[name]


def _take_source_file(take: Any) -> str:
    source = _rpr("RPR_GetMediaItemTake_Source")(take)
    return str(_rpr("RPR_GetMediaSourceFileName")(source, "", 4096)[1])


def _selected_items() -> tuple[Any, Any | None]:
    """The audio item and the video item (or None) among the selected items."""
    count = int(_rpr("RPR_CountSelectedMediaItems")(0))
    if count == 0:
        raise ValueError("select the audio item (and the video item) first")
    items = [_rpr("RPR_GetSelectedMediaItem")(0, i) for i in range(count)]
    videos = [
        i for i in items if _take_source_file(_active_take(i)).lower().endswith(VIDEO_EXTENSIONS)
    ]
    audios = [i for i in items if i not in videos]
    if audios:
        return audios[0], videos[0] if videos else None
    return videos[0], None  # a video file with its own audio


def _active_take(item: Any) -> Any:
    return _rpr("RPR_GetActiveTake")(item)


def _insert_stem(name: str, path: str, position: float) -> None:
    index = int(_rpr("RPR_CountTracks")(0))
    _rpr("RPR_InsertTrackAtIndex")(index, True)
    track = _rpr("RPR_GetTrack")(0, index)
    _rpr("RPR_GetSetMediaTrackInfo_String")(track, "P_NAME", name, True)
    item = _rpr("RPR_AddMediaItemToTrack")(track)
    take = _rpr("RPR_AddTakeToMediaItem")(item)
    source = _rpr("RPR_PCM_Source_CreateFromFile")(path)
    _rpr("RPR_SetMediaItemTake_Source")(take, source)
    length = _rpr("RPR_GetMediaSourceLength")(source, False)[0]
    _rpr("RPR_SetMediaItemInfo_Value")(item, "D_POSITION", position)
    _rpr("RPR_SetMediaItemInfo_Value")(item, "D_LENGTH", length)
    _rpr("RPR_GetSetMediaItemTakeInfo_String")(take, "P_NAME", name, True)


def _poll() -> None:
    """One defer step: read what arrived, insert finished stems, show the status when it
    changes, re-arm until the job ends (or the engine, asked after a silence, no longer has it
    queued or running)."""
    client: EngineClient = _state["client"]
    tracker: JobTracker = _state["tracker"]
    now = time.monotonic()
    while (message := client.poll(0.0)) is not None:
        _state["heard"] = now
        before = len(tracker.stems)
        tracker.feed(message)
        for stem in tracker.stems[before:]:
            position = stem_position(_state["position"], _state["take_offset"], stem.start_seconds)
            _insert_stem(stem.name, stem.path, position)
            _rpr("RPR_UpdateArrange")()
    text = progress_text(tracker)
    if text != _state.get("shown"):  # one line per change, not one per UI tick
        _rpr("RPR_ShowConsoleMsg")(text + "\n")
        _state["shown"] = text
    if tracker.finished:
        client.close()
        _rpr("RPR_Undo_OnStateChange")("AVPC: insert stems")
        return
    if now - _state.setdefault("heard", now) > SILENCE_S:
        state = client.job_state(tracker.job_id)  # a queued job is silent; a gone engine too
        if state not in ("queued", "running"):
            _rpr("RPR_ShowConsoleMsg")(
                f"AVPC: no news of job {tracker.job_id} for {SILENCE_S:.0f} s and the engine "
                f"says: {state}; stopped following it\n"
            )
            client.close()
            return
        _state["heard"] = now
    _rpr("RPR_defer")("_poll()")


def main() -> None:
    try:
        audio_item, video_item = _selected_items()
        take = _active_take(audio_item)
        source = _take_source_file(take)
        video = _take_source_file(_active_take(video_item)) if video_item is not None else None
        ok, *_, answers, _ = _rpr("RPR_GetUserInputs")(
            "AVPC separate",
            3,
            "Stems (name@x,y,w,h; ...),Output folder,Every instrument named: share the mix (y/n),"
            "separator=|,extrawidth=300",
            "violin@0,0,0.5,1; cello@0.5,0,0.5,1|"
            + os.path.join(os.path.dirname(source), "stems")
            + "|n",
            2048,
        )
        if not ok:
            return
        stems_text, out_dir, share = answers.split("|")
        position = _rpr("RPR_GetMediaItemInfo_Value")(audio_item, "D_POSITION")
        take_offset = _rpr("RPR_GetMediaItemTakeInfo_Value")(take, "D_STARTOFFS")
        job = build_job(
            source,
            take_offset,
            _rpr("RPR_GetMediaItemInfo_Value")(audio_item, "D_LENGTH"),
            _rpr("RPR_GetMediaItemTakeInfo_Value")(take, "D_PLAYRATE"),
            parse_stem_list(stems_text),
            os.path.abspath(out_dir.strip()),
            video=video,
            normalise=share.strip().lower() in ("y", "yes"),
        )
        client = EngineClient.connect(ENGINE_HOST, ENGINE_PORT)
        job_id = client.submit(job)
    except (ValueError, EngineError, OSError) as err:
        _rpr("RPR_ShowMessageBox")(f"AVPC: {err}", "AVPC separate", 0)
        return
    _state.update(
        client=client, tracker=JobTracker(job_id), position=position, take_offset=take_offset
    )
    _poll()


if "RPR_defer" in globals():  # running inside REAPER
    main()
