"""Mix-and-separate datasets, the MUSIC-layout loader and benchmark sets, on fixtures made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from avpc_plugin.audio.io import read_audio, write_audio
from avpc_plugin.audio.stft import CLIP_SAMPLES, MODEL_RATE
from avpc_plugin.data.clips import SoloClip, clips_from_music_csv
from avpc_plugin.data.datasets import MixSeparateDataset


def _music_fixture(root: Path) -> Path:
    """Two good MUSIC-layout recordings (violin, flute) and one whose audio chunk is corrupt."""
    rows = []
    t = np.arange(int(20 * MODEL_RATE)) / MODEL_RATE
    for number, (instrument, pitch) in enumerate(
        [("violin", 440.0), ("flute", 660.0), ("cello", 0)]
    ):
        audio_dir = root / "audio" / instrument / f"rec{number}.wav"
        frames_dir = root / "frames" / instrument / f"rec{number}.mp4"
        audio_dir.mkdir(parents=True)
        frames_dir.mkdir(parents=True)
        if pitch:
            write_audio(audio_dir / "000000.wav", 0.5 * np.sin(2 * np.pi * pitch * t), MODEL_RATE)
        else:
            (audio_dir / "000000.wav").write_bytes(b"RIFF not really a wav file")
        for k in range(160):  # 20 s at 8 fps; brightness encodes the frame number
            Image.new("RGB", (16, 16), (k, k, k)).save(frames_dir / f"{k:06d}.jpg")
        rows.append(f"{audio_dir.relative_to(root)},{frames_dir.relative_to(root)},1,160")
    index = root / "train.csv"
    index.write_text("\n".join(rows) + "\n")
    return index


def test_music_layout_loader_reads_good_rows_and_reports_the_corrupt_one(tmp_path: Path) -> None:
    index = _music_fixture(tmp_path)
    with pytest.warns(UserWarning) as caught:
        clips = clips_from_music_csv(index)
    messages = [str(w.message) for w in caught]
    assert any("rec2.wav" in m and "unreadable" in m for m in messages)
    assert any("skipped 1 of 3 clips" in m for m in messages)
    assert [c.instrument for c in clips] == ["violin", "flute"]
    assert clips[0].duration == 20.0

    dataset = MixSeparateDataset(clips, n_sources=2, train=False, image_size=16)
    item = dataset[0]
    assert item["audios"].shape == (2, CLIP_SAMPLES) and item["mix"].shape == (CLIP_SAMPLES,)
    assert item["frames"].shape == (2, 3, 3, 16, 16)
    assert item["instruments"] == ["violin", "flute"]
    # Val windows are centred: 20 s clip, 5.94 s window from 7.03 s, centre 10 s = frame 80;
    # frames 3 s apart: 56, 80, 104 (grey levels, ImageNet-normalised on the red channel).
    red = item["frames"][0, 0, :, 8, 8] * 0.229 + 0.485
    assert torch.allclose(red * 255, torch.tensor([56.0, 80.0, 104.0]), atol=2.5)
    # The violin source is the 440 Hz sine, peak-normalised then gained.
    spectrum = torch.fft.rfft(item["audios"][0]).abs()
    assert abs(int(spectrum.argmax()) * MODEL_RATE / CLIP_SAMPLES - 440.0) < 1.0


def _sine_clips(tmp_path: Path, n: int) -> list[SoloClip]:
    clips = []
    t = np.arange(int(7 * MODEL_RATE)) / MODEL_RATE
    frames = tmp_path / "frames"
    frames.mkdir()
    for k in range(56):
        Image.new("RGB", (16, 16), (k, 0, 0)).save(frames / f"{k:06d}.jpg")
    for i in range(n):
        path = tmp_path / f"s{i}.wav"
        write_audio(path, (0.1 + 0.2 * i) * np.sin(2 * np.pi * 200 * (i + 1) * t), MODEL_RATE)
        clips.append(SoloClip(f"inst{i}", path, frames, 7.0, 8.0, f"rec{i}"))
    return clips


def test_mixture_is_the_mean_of_the_gained_normalised_sources(tmp_path: Path) -> None:
    clips = _sine_clips(tmp_path, 4)
    item = MixSeparateDataset(clips, n_sources=3, train=True, image_size=16)[1]
    assert torch.allclose(item["mix"], item["audios"].mean(dim=0), atol=1e-7)
    assert ((item["gains"] >= 0.5) & (item["gains"] < 1.5)).all()
    peaks = item["audios"].abs().amax(dim=-1)
    assert torch.allclose(peaks, item["gains"], rtol=1e-5)  # peak 1 before the gain
    assert len(set(item["instruments"])) == 3 and item["instruments"][0] == "inst1"
    assert item["frames"].shape == (3, 3, 3, 16, 16)


def test_val_mode_is_deterministic_and_train_mode_varies(tmp_path: Path) -> None:
    clips = _sine_clips(tmp_path, 3)
    val = MixSeparateDataset(clips, n_sources=2, train=False, seed=3, image_size=16)
    first, again = val[2], val[2]
    assert torch.equal(first["mix"], again["mix"]) and torch.equal(first["frames"], again["frames"])
    train = MixSeparateDataset(clips, n_sources=2, train=True, image_size=16)
    torch.manual_seed(1)
    a = train[0]["gains"]
    torch.manual_seed(2)
    assert not torch.equal(a, train[0]["gains"])


def test_benchmark_manifest_format_and_exact_mixes(tmp_path: Path) -> None:
    from avpc_plugin.data.bench import build_benchmark
    from avpc_plugin.data.corpus import SynthConfig, synthesize_corpus
    from avpc_plugin.data.render import find_soundfonts

    try:
        find_soundfonts("val")
    except FileNotFoundError as error:
        pytest.skip(str(error))
    corpus = tmp_path / "corpus"
    synthesize_corpus(
        corpus, "val", 3, seed=0, config=SynthConfig(duration=1.0, size=32), workers=1
    )
    manifest = build_benchmark(corpus, tmp_path / "bench", {2: 2, 3: 1}, seed=9)
    lines = (tmp_path / "bench" / "manifest.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == manifest
    assert [len(m["sources"]) for m in manifest] == [2, 2, 3]
    for entry in manifest:
        mix, _ = read_audio(tmp_path / "bench" / entry["mix"])
        sources = [read_audio(tmp_path / "bench" / s["audio"])[0] for s in entry["sources"]]
        np.testing.assert_allclose(mix, np.mean(sources, axis=0), atol=1e-6)
        assert len({s["instrument"] for s in entry["sources"]}) == len(entry["sources"])
        for source in entry["sources"]:
            assert (tmp_path / "bench" / source["video"]).stat().st_size > 0
            assert source["box"] is None
    again = build_benchmark(corpus, tmp_path / "bench2", {2: 2, 3: 1}, seed=9)
    assert again == manifest
