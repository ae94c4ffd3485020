"""Folder-of-videos loader: instruments from folders or an index, bad files skipped, cacheable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from avpc_plugin.audio.stft import MODEL_RATE
from avpc_plugin.data.cache import CachedMixSeparateDataset, build_cache
from avpc_plugin.data.cli import data_group
from avpc_plugin.data.datasets import MixSeparateDataset
from avpc_plugin.data.folder import clips_from_video_folder, read_video_index
from avpc_plugin.video.encode import write_mp4

FPS = 8.0


def _video(path: Path, pitch: float, seconds: float = 3.0, audio: bool = True) -> None:
    """A 32 px video whose red level is 4x the frame number, with a sine of ``pitch`` Hz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = round(seconds * FPS)
    frames = np.zeros((count, 32, 32, 3), dtype=np.uint8)
    frames[..., 0] = 4 * np.arange(count)[:, None, None]
    frames[..., 2] = int(pitch) % 256
    t = np.arange(int(seconds * 22050)) / 22050
    wave = 0.4 * np.sin(2 * np.pi * pitch * t)
    write_mp4(path, frames, FPS, audio=wave if audio else None, sample_rate=22050)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    _video(root / "violin" / "take1.mp4", 440.0)
    _video(root / "flute" / "take1.mov", 880.0)
    _video(root / "flute" / "take2.mkv", 660.0)
    _video(root / "cello" / "silent.mp4", 110.0, audio=False)  # no audio track
    (root / "cello" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom corrupt")
    _video(root / "loose.mp4", 220.0)  # no instrument folder
    (root / "notes.txt").write_text("not a video")
    return root


def test_folder_loader_reads_videos_and_reports_bad_files(videos: Path) -> None:
    with pytest.warns(UserWarning) as caught:
        clips = clips_from_video_folder(videos)
    messages = [str(w.message) for w in caught]
    for name in ("broken.mp4", "silent.mp4", "loose.mp4"):
        assert any(name in m for m in messages), name
    assert any("skipped 3 of 6 clips" in m for m in messages)
    assert [(c.instrument, c.recording) for c in clips] == [
        ("flute", "flute/take1.mov"),
        ("flute", "flute/take2.mkv"),
        ("violin", "violin/take1.mp4"),
    ]
    for clip in clips:
        assert clip.audio == clip.video and clip.fps == FPS
        assert 2.9 < clip.duration <= 3.1


def test_folder_clips_cache_like_the_uncached_dataset(videos: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        clips = clips_from_video_folder(videos)
    cache = build_cache(clips, tmp_path / "cache", FPS, image_size=16, progress=False)
    assert len(cache) == 3 and cache.frames(0).shape[0] == 24  # 3 s x 8 fps
    # The cached audio is the AAC track at the model rate: the violin's 440 Hz sine.
    violin = cache.audio(2)
    assert abs(violin.shape[0] / MODEL_RATE - clips[2].duration) < 0.05
    spectrum = np.abs(np.fft.rfft(violin[2000:30000]))
    assert abs(spectrum.argmax() * MODEL_RATE / 28000 - 440.0) < 2.0
    uncached = MixSeparateDataset(clips, 2, train=False, seed=1, image_size=16)
    cached = CachedMixSeparateDataset(cache, 2, train=False, seed=1)
    for index in range(3):
        a, b = uncached[index], cached[index]
        assert a["instruments"] == b["instruments"]
        assert torch.equal(a["frames"], b["frames"])
        torch.testing.assert_close(a["mix"], b["mix"], atol=1e-5, rtol=0)


def test_an_index_names_the_instruments(videos: Path, tmp_path: Path) -> None:
    listing = {"violin/take1.mp4": "viola", "cello/broken.mp4": "cello"}
    json_index = tmp_path / "index.json"
    json_index.write_text(json.dumps(listing))
    csv_index = tmp_path / "index.csv"
    csv_index.write_text(
        "instrument,path,comment\nviola,violin/take1.mp4,x\ncello,cello/broken.mp4,\n"
    )
    assert read_video_index(json_index) == read_video_index(csv_index) == listing
    with pytest.warns(UserWarning) as caught:
        clips = clips_from_video_folder(videos, csv_index)
    assert any("broken.mp4" in str(w.message) for w in caught)
    assert any("skipped 1 of 2" in str(w.message) for w in caught)
    assert [(c.instrument, c.recording) for c in clips] == [("viola", "violin/take1.mp4")]
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\na.mp4,violin\n")
    with pytest.raises(ValueError, match="'path' and 'instrument'"):
        read_video_index(bad)
    (tmp_path / "bad.jsonl").write_text('{"path": "a.mp4"}\n')
    with pytest.raises(ValueError, match="entry 1"):
        read_video_index(tmp_path / "bad.jsonl")


def test_data_cache_reports_a_bad_index_without_a_traceback(videos: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\na.mp4,violin\n")
    args = ["cache", "--videos", str(videos), "--index", str(bad), "--out", str(tmp_path / "c")]
    result = CliRunner().invoke(data_group, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "bad.csv needs a header row with 'path' and 'instrument'" in result.output
