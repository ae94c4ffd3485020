"""Audio reading, resampling and atomic writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avpc_plugin.audio.io import (
    AtomicAudioWriter,
    AudioFileError,
    AudioReader,
    audio_info,
    read_audio,
    resample,
    resample_span,
    write_audio,
)


@pytest.fixture()
def stereo() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(0.3 * rng.standard_normal((2, 10_007)), -0.9, 0.9).astype(np.float32)


@pytest.mark.parametrize(
    ("ext", "bit_depth", "tolerance"),
    [("wav", "32f", 0.0), ("wav", "24", 1e-6), ("flac", "16", 1e-4), ("aiff", "24", 1e-6)],
)
def test_write_then_read_round_trip(
    tmp_path: Path, stereo: np.ndarray, ext: str, bit_depth: str, tolerance: float
) -> None:
    path = write_audio(tmp_path / f"x.{ext}", stereo, 48000, bit_depth)  # type: ignore[arg-type]
    audio, rate = read_audio(path)
    assert rate == 48000 and audio.shape == stereo.shape and audio.dtype == np.float32
    assert np.abs(audio - stereo).max() <= tolerance
    assert audio_info(path).frames == stereo.shape[1]


def test_reader_reads_blocks_with_zeros_outside(tmp_path: Path, stereo: np.ndarray) -> None:
    path = write_audio(tmp_path / "x.wav", stereo, 44100, "32f")
    with AudioReader(path) as reader:
        block = reader.read(-5, 20)
        tail = reader.read(10_000, 20)
    np.testing.assert_array_equal(block[:, :5], 0)
    np.testing.assert_array_equal(block[:, 5:], stereo[:, :15])
    np.testing.assert_array_equal(tail[:, :7], stereo[:, 10_000:])
    np.testing.assert_array_equal(tail[:, 7:], 0)


def test_time_range(tmp_path: Path, stereo: np.ndarray) -> None:
    path = write_audio(tmp_path / "x.wav", stereo, 1000, "32f")
    audio, _ = read_audio(path, start=2.0, end=3.5)
    np.testing.assert_array_equal(audio, stereo[:, 2000:3500])
    with pytest.raises(ValueError, match="start"):
        read_audio(path, start=20.0)
    with pytest.raises(ValueError, match="end"):
        read_audio(path, start=2.0, end=1.0)


@pytest.mark.parametrize(("orig", "target"), [(44100, 11025), (48000, 11025), (22050, 11025)])
def test_resample_span_matches_whole_signal(stereo: np.ndarray, orig: int, target: int) -> None:
    whole = resample(stereo, orig, target)
    assert whole.shape[-1] == -(-stereo.shape[-1] * target // orig)

    def read(start: int, count: int) -> np.ndarray:
        out = np.zeros((2, count), np.float32)
        lo, hi = max(start, 0), min(start + count, stereo.shape[1])
        out[:, lo - start : hi - start] = stereo[:, lo:hi]
        return out

    for lo, hi in [(0, 100), (333, 1400), (whole.shape[-1] - 50, whole.shape[-1] + 30)]:
        span = resample_span(read, orig, target, lo, hi, stereo.shape[1])
        expected = np.pad(whole, ((0, 0), (0, 30)))[:, lo:hi]
        np.testing.assert_allclose(span, expected, atol=1e-6)


def test_resample_is_zero_phase() -> None:
    rate = 44100
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    low = resample(tone, rate, 11025)
    expected = np.sin(2 * np.pi * 440 * np.arange(low.size) / 11025)
    # a delay of one output sample would give errors ~0.25; filter ripple stays ~1e-3
    assert np.abs(low[200:-200] - expected[200:-200]).max() < 5e-3


def test_atomic_writer_never_leaves_a_partial_file(tmp_path: Path, stereo: np.ndarray) -> None:
    target = tmp_path / "out" / "stem.wav"
    with pytest.raises(RuntimeError), AtomicAudioWriter(target, 44100, 2, "24") as writer:
        writer.write(stereo)
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []  # no partial file, and not the folder it made either
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(RuntimeError), AtomicAudioWriter(kept / "a" / "b.wav", 8000, 1) as writer:
        raise RuntimeError("interrupted")
    assert kept.is_dir() and list(kept.iterdir()) == []  # a folder it found is left alone


def test_existing_file_needs_overwrite(tmp_path: Path, stereo: np.ndarray) -> None:
    target = write_audio(tmp_path / "x.wav", stereo, 44100)
    with pytest.raises(FileExistsError, match=r"x\.wav"):
        write_audio(target, stereo * 0, 44100)
    write_audio(target, stereo * 0, 44100, overwrite=True)
    assert np.abs(read_audio(target)[0]).max() == 0


def test_bad_formats_and_files(tmp_path: Path, stereo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="32-bit float"):
        write_audio(tmp_path / "x.flac", stereo, 44100, "32f")
    with pytest.raises(ValueError, match="format"):
        write_audio(tmp_path / "x.mp3", stereo, 44100)
    with pytest.raises(AudioFileError, match="no such file"):
        read_audio(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF0000garbage" * 4)
    with pytest.raises(AudioFileError, match=r"junk\.wav"):
        read_audio(junk)
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(AudioFileError, match="cannot write"):
        write_audio(blocked / "x.wav", stereo, 44100)
