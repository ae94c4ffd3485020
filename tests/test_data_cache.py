"""Pre-decoded cache: it gives the uncached dataset's items, skips bad clips, feeds a DataLoader."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock
from torch.utils.data import DataLoader

from avpc_plugin.audio.io import write_audio
from avpc_plugin.audio.stft import CLIP_SAMPLES, MODEL_RATE
from avpc_plugin.data.cache import (
    LOCK_NAME,
    META_NAME,
    CachedMixSeparateDataset,
    ClipCache,
    build_cache,
    ensure_cache,
)
from avpc_plugin.data.clips import SoloClip
from avpc_plugin.data.datasets import MixSeparateDataset
from avpc_plugin.video.encode import write_mp4

FPS = 8.0
IMAGE_SIZE = 16  # staged side int(1.1 * 16) = 17


def _clip(folder: Path, name: str, rate: int, seconds: float, hue: int) -> SoloClip:
    """A solo clip: a chirp-like tone at ``rate`` Hz and a 32 px video whose frame k is a
    left-to-right ramp (so crops and flips show) with brightness k."""
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * (150 + 40 * hue) * t * (1 + 0.05 * t))
    write_audio(folder / f"{name}.wav", np.stack([wave, 0.5 * wave]), rate)
    count = round(seconds * FPS)
    ramp = np.linspace(0, 120, 32)[None, None, :, None]
    frames = np.broadcast_to(ramp, (count, 32, 32, 3)).copy()
    frames[..., 0] += np.arange(count)[:, None, None] * 2
    frames[..., 1] += hue * 20
    write_mp4(folder / f"{name}.mp4", frames.clip(0, 255).astype(np.uint8), FPS, crf=0)
    return SoloClip(
        f"inst{hue}", folder / f"{name}.wav", folder / f"{name}.mp4", seconds, FPS, name
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[SoloClip]:
    folder = tmp_path_factory.mktemp("clips")
    return [
        _clip(folder, "a", MODEL_RATE, 7.0, 0),
        _clip(folder, "b", 22050, 6.5, 1),  # resampled to the model rate
        _clip(folder, "c", MODEL_RATE, 4.0, 2),  # shorter than the window: zero-padded
    ]


def _assert_same_item(a: dict, b: dict) -> None:
    assert a["instruments"] == b["instruments"]
    assert torch.equal(a["frames"], b["frames"])
    assert torch.equal(a["gains"], b["gains"])
    torch.testing.assert_close(a["audios"], b["audios"], atol=1e-6, rtol=0)
    torch.testing.assert_close(a["mix"], b["mix"], atol=1e-6, rtol=0)


def test_cached_items_equal_uncached_items(clips: list[SoloClip], tmp_path: Path) -> None:
    cache = build_cache(clips, tmp_path / "cache", FPS, IMAGE_SIZE, progress=False)
    assert cache.frame_side == 17 and len(cache) == 3
    assert cache.frames(0).shape == (56, 3, 17, 17) and cache.frames(2).shape == (32, 3, 17, 17)
    assert cache.audio(1).shape == (71663,)  # ceil(6.5 s * 11025 Hz)
    for n_sources in (2, 3):
        val = MixSeparateDataset(clips, n_sources, train=False, seed=4, image_size=IMAGE_SIZE)
        cached = CachedMixSeparateDataset(cache, n_sources, train=False, seed=4)
        assert len(cached) == len(val) == 3
        for index in range(3):
            _assert_same_item(val[index], cached[index])
    # Training items share the random draws too (same torch seed -> same windows, crops, flips).
    train = MixSeparateDataset(clips, 2, train=True, image_size=IMAGE_SIZE)
    cached_train = CachedMixSeparateDataset(tmp_path / "cache", 2, train=True)
    for seed in (1, 2):
        torch.manual_seed(seed)
        a = train[1]
        torch.manual_seed(seed)
        _assert_same_item(a, cached_train[1])
    item = cached_train[0]
    assert item["frames"].shape == (2, 3, 3, IMAGE_SIZE, IMAGE_SIZE)
    assert item["audios"].shape == (2, CLIP_SAMPLES)
    assert torch.allclose(item["mix"], item["audios"].mean(0), atol=1e-7)


def test_val_frames_follow_the_window_centre_on_the_frame_grid(
    clips: list[SoloClip], tmp_path: Path
) -> None:
    cache = build_cache(clips[:2], tmp_path / "cache", FPS, IMAGE_SIZE, progress=False)
    item = CachedMixSeparateDataset(cache, 2, train=False, stride_frames=8)[0]
    # Clip a: 7 s, centred 5.944 s window -> centre 3.5 s = frame 28; frames 20, 28, 36 with red
    # level 2k above the ramp (ImageNet-normalised red channel, mean over the row).
    red = item["frames"][0, 0].mean(dim=(1, 2)) * 0.229 * 255 + 0.485 * 255
    ramp_mean = 60.0
    assert torch.allclose(red - ramp_mean, torch.tensor([40.0, 56.0, 72.0]), atol=3.0)


def test_unreadable_clips_are_skipped_and_counted(clips: list[SoloClip], tmp_path: Path) -> None:
    broken_video = tmp_path / "broken.mp4"
    broken_video.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a real movie")
    bad = [
        SoloClip("x", clips[0].audio, broken_video, 7.0, FPS, "broken-video"),
        SoloClip("y", tmp_path / "missing.wav", clips[0].video, 7.0, FPS, "missing-audio"),
    ]
    with pytest.warns(UserWarning) as caught:
        cache = build_cache([*clips[:2], *bad], tmp_path / "cache", FPS, IMAGE_SIZE, False)
    messages = [str(w.message) for w in caught]
    assert any("broken.mp4" in m for m in messages)
    assert any("missing.wav" in m for m in messages)
    assert any("skipped 2 of 4 clips" in m for m in messages)
    assert [c.recording for c in cache.clips] == ["a", "b"]
    # The kept clips' data is intact after the rewinds.
    assert cache.frames(1).shape[0] == 52 and cache.audio(1).shape == (
        71663,
    )  # ceil(6.5 s * 11025 Hz)


def test_ensure_cache_reuses_a_matching_cache_and_rebuilds_otherwise(
    clips: list[SoloClip], tmp_path: Path
) -> None:
    folder = tmp_path / "cache"
    ensure_cache(clips[:2], folder, FPS, IMAGE_SIZE, progress=False)
    meta = json.loads((folder / META_NAME).read_text())
    (folder / META_NAME).write_text(json.dumps({**meta, "note": "untouched"}))
    ensure_cache(clips[:2], folder, FPS, IMAGE_SIZE, progress=False)
    assert json.loads((folder / META_NAME).read_text()).get("note") == "untouched"
    rebuilt = ensure_cache(clips, folder, FPS, IMAGE_SIZE, progress=False)  # a new clip
    assert len(rebuilt) == 3 and "note" not in json.loads((folder / META_NAME).read_text())
    with pytest.raises(FileNotFoundError, match=r"no meta\.json"):
        ClipCache(tmp_path / "nothing")


def test_ensure_cache_opens_a_bigger_cache_restricted_to_the_requested_clips(
    clips: list[SoloClip], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"
    ensure_cache(clips, folder, FPS, IMAGE_SIZE, progress=False)
    built = (folder / META_NAME).stat().st_mtime_ns
    # The same files, spelled relative to another working folder: no rebuild.
    monkeypatch.chdir(clips[0].audio.parent)
    spelled = [
        SoloClip(
            c.instrument,
            Path("..") / c.audio.parent.name / c.audio.name,
            Path(c.video.name),
            c.duration,
            c.fps,
            c.recording,
        )
        for c in clips
    ]
    subset = ensure_cache([spelled[2], spelled[0]], folder, FPS, IMAGE_SIZE, progress=False)
    assert (folder / META_NAME).stat().st_mtime_ns == built
    assert [c.recording for c in subset.clips] == ["c", "a"]
    assert subset.clips[1].audio == clips[0].audio.resolve()
    np.testing.assert_array_equal(subset.frames(1), ClipCache(folder).frames(0))
    dataset = CachedMixSeparateDataset(subset, 2, train=False)
    instruments = {name for index in range(len(dataset)) for name in dataset[index]["instruments"]}
    assert len(dataset) == 2 and instruments == {"inst0", "inst2"}


def test_ensure_cache_rebuilds_when_a_clip_file_was_rewritten(
    clips: list[SoloClip], tmp_path: Path
) -> None:
    import shutil

    copies = tmp_path / "clips"
    copies.mkdir()
    mine = []
    for clip in clips[:2]:
        audio = Path(shutil.copy(clip.audio, copies))
        video = Path(shutil.copy(clip.video, copies))
        mine.append(
            SoloClip(clip.instrument, audio, video, clip.duration, clip.fps, clip.recording)
        )
    folder = tmp_path / "cache"
    first = ensure_cache(mine, folder, FPS, IMAGE_SIZE, progress=False)
    before = first.audio(0).copy()
    # The corpus is made again in the same folder: same names, other sounds.
    write_audio(mine[0].audio, np.full((1, MODEL_RATE * 7), 0.25), MODEL_RATE, overwrite=True)
    again = ensure_cache(mine, folder, FPS, IMAGE_SIZE, progress=False)
    assert not np.array_equal(again.audio(0), before)
    np.testing.assert_allclose(again.audio(0)[:1000], 0.25, atol=1e-4)


def test_a_clip_skipped_as_unreadable_does_not_force_a_rebuild(
    clips: list[SoloClip], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a movie")
    wanted = [*clips[:2], SoloClip("x", clips[0].audio, broken, 7.0, FPS, "broken")]
    folder = tmp_path / "cache"
    with pytest.warns(UserWarning) as caught:
        ensure_cache(wanted, folder, FPS, IMAGE_SIZE, progress=False)
    assert any("broken.mp4" in str(w.message) for w in caught)
    built = (folder / META_NAME).stat().st_mtime_ns
    reopened = ensure_cache(wanted, folder, FPS, IMAGE_SIZE, progress=False)
    assert (folder / META_NAME).stat().st_mtime_ns == built
    assert [c.recording for c in reopened.clips] == ["a", "b"]


def test_a_cache_rebuilt_under_a_reader_is_refused_not_misread(
    clips: list[SoloClip], tmp_path: Path
) -> None:
    import pickle

    folder = tmp_path / "cache"
    opened = ensure_cache(clips[:2], folder, FPS, IMAGE_SIZE, progress=False)
    assert opened.audio(0).shape == (77175,)
    worker_copy = pickle.loads(pickle.dumps(opened))  # as a DataLoader worker gets it
    ensure_cache(clips[1:], folder, FPS, IMAGE_SIZE, progress=False)  # another run's clips
    assert opened.audio(0).shape == (77175,)  # mapped before the rebuild: still the old file
    with pytest.raises(RuntimeError, match=r"audio\.f32 was rebuilt"):
        worker_copy.audio(0)


def test_ensure_cache_waits_for_a_build_in_progress(clips: list[SoloClip], tmp_path: Path) -> None:
    # Another run holds the folder's lock (it is building): ensure_cache waits for it.
    folder = tmp_path / "cache"
    folder.mkdir()
    opened: list[ClipCache] = []
    worker = threading.Thread(
        target=lambda: opened.append(ensure_cache(clips, folder, FPS, IMAGE_SIZE, progress=False))
    )
    with FileLock(folder / LOCK_NAME):
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive() and not (folder / META_NAME).exists()
    worker.join(timeout=60)
    assert not worker.is_alive() and len(opened[0]) == 3


def test_dataloader_workers_read_the_cache(clips: list[SoloClip], tmp_path: Path) -> None:
    cache = build_cache(clips, tmp_path / "cache", FPS, IMAGE_SIZE, progress=False)
    dataset = CachedMixSeparateDataset(cache, 2, train=True, length=8)
    loader = DataLoader(dataset, batch_size=4, num_workers=2)
    batches = list(loader)
    assert len(batches) == 2
    assert batches[0]["frames"].shape == (4, 2, 3, 3, IMAGE_SIZE, IMAGE_SIZE)
    assert batches[0]["mix"].shape == (4, CLIP_SAMPLES)


def _drawn_alike(
    cache: ClipCache, first: dict[str, float], second: dict[str, float], train: bool = True
) -> tuple[dict, dict]:
    """Item 1 of two datasets over ``cache`` with options ``first`` and ``second``, each drawn
    after the same torch seed (so a training item's draws can be compared)."""
    items = []
    for options in (first, second):
        dataset = CachedMixSeparateDataset(cache, 2, train=train, normalize=False, **options)
        torch.manual_seed(3)
        items.append(dataset[1])
    return items[0], items[1]


def test_frame_augment_restyles_training_frames_only(clips: list[SoloClip], tmp_path: Path) -> None:
    cache = build_cache(clips, tmp_path / "cache", FPS, IMAGE_SIZE, progress=False)
    a, b = _drawn_alike(cache, {}, {"frame_augment": 1.0})
    # Same windows, partners, gains and crops (restyling has its own stream), other pixels.
    assert a["instruments"] == b["instruments"]
    assert torch.equal(a["audios"], b["audios"]) and torch.equal(a["gains"], b["gains"])
    assert b["frames"].dtype == torch.uint8 and b["frames"].shape == a["frames"].shape
    assert not torch.equal(a["frames"], b["frames"])
    # Validation items never change.
    val, val_restyled = _drawn_alike(cache, {}, {"frame_augment": 1.0}, train=False)
    assert torch.equal(val["frames"], val_restyled["frames"])
    with pytest.raises(ValueError, match="frame_augment"):
        CachedMixSeparateDataset(cache, 2, frame_augment=2.0)


def test_audio_augment_equalises_training_sources_only(
    clips: list[SoloClip], tmp_path: Path
) -> None:
    cache = build_cache(clips, tmp_path / "cache", FPS, IMAGE_SIZE, progress=False)
    restyled = {"frame_augment": 1.0}
    a, b = _drawn_alike(cache, restyled, {**restyled, "audio_augment": 1.0})
    # Same partners, gains and (restyled) frames: equalising draws from a stream of its own.
    assert a["instruments"] == b["instruments"]
    assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["gains"], b["gains"])
    assert not torch.allclose(a["audios"], b["audios"], atol=1e-3)
    # Still the mixing recipe: each source peaks at its gain and the mix is their mean.
    peaks = b["audios"].abs().amax(dim=-1)
    torch.testing.assert_close(peaks, b["gains"], atol=1e-5, rtol=0)
    torch.testing.assert_close(b["mix"], b["audios"].mean(dim=0), atol=1e-6, rtol=0)
    # Validation items never change.
    val, val_eq = _drawn_alike(cache, {}, {"audio_augment": 1.0}, train=False)
    assert torch.equal(val["audios"], val_eq["audios"])
    with pytest.raises(ValueError, match="audio_augment"):
        CachedMixSeparateDataset(cache, 2, audio_augment=-0.1)
