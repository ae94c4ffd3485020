"""Audio reading, resampling and atomic writing."""

from __future__ import annotations

import errno
import shutil
import warnings
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from avpc_plugin.audio.io import (
    AtomicAudioWriter,
    AudioFileError,
    AudioReader,
    AudioWarning,
    AudioWriteError,
    audio_info,
    check_output_format,
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


def test_a_truncated_wav_is_read_as_long_as_it_is_with_a_warning(tmp_path: Path) -> None:
    whole = write_audio(tmp_path / "whole.wav", np.full((2, 8000), 0.5, np.float32), 8000, "24")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert audio_info(whole).frames == 8000
    path = tmp_path / "cut.wav"
    path.write_bytes(whole.read_bytes()[: -6 * 6000 - 3])  # header still says 8000; 1999.5 left
    with pytest.warns(AudioWarning, match="holds 1999 samples .* promises 8000"):
        reader = AudioReader(path)
    with reader:
        assert reader.info.frames == audio_info(path).frames == 1999
        assert np.allclose(reader.read(0, 1999), 0.5, atol=1e-3)


def test_clipping_an_integer_format_warns(tmp_path: Path) -> None:
    loud = np.array([[0.5, -2.0, 0.25]], np.float32)
    with pytest.warns(AudioWarning, match=r"\+6\.0 dBFS and was clipped .* 24-bit"):
        write_audio(tmp_path / "loud.wav", loud, 8000, "24")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_audio(tmp_path / "kept.wav", loud, 8000, "32f")  # float keeps it: no warning
    assert read_audio(tmp_path / "kept.wav")[0].min() == -2.0


def test_m4a_audio_is_read_like_a_containers_track(tmp_path: Path, stereo: np.ndarray) -> None:
    path = tmp_path / "take.m4a"
    pcm = np.round(stereo * 32767).astype(np.int16)
    with av.open(str(path), "w", format="ipod") as container:
        stream = container.add_stream("alac", rate=44100, layout="stereo")
        for start in range(0, pcm.shape[1], 4096):
            chunk = np.ascontiguousarray(pcm[:, start : start + 4096].T.reshape(1, -1))
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
            frame.sample_rate, frame.pts = 44100, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    info = audio_info(path)
    assert (info.sample_rate, info.channels, info.frames) == (44100, 2, stereo.shape[1])
    audio, _ = read_audio(path, start=0.05)
    assert np.abs(audio - pcm[:, 2205:] / 32768).max() < 1e-6  # lossless, sample-aligned


def test_a_full_disk_is_said_in_plain_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FullDisk:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def write(self, block: np.ndarray) -> None:
            raise self.error

        def close(self) -> None:
            pass

    target = tmp_path / "stems" / "violin.wav"
    writer = AtomicAudioWriter(target, 44100, 1)
    writer._file.close()
    writer._file = FullDisk(OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(
        AudioWriteError, match=r"violin\.wav: cannot write: no space left on device"
    ):
        writer.write(np.zeros((1, 100), np.float32))
    assert not target.parent.exists()  # nothing left behind

    # the writing library's own words are vague: a disk with next to nothing free is named
    writer = AtomicAudioWriter(target, 44100, 1)
    writer._file.close()
    writer._file = FullDisk(RuntimeError("unable to write"))
    usage = shutil.disk_usage(tmp_path)._replace(free=4096)
    monkeypatch.setattr("avpc_plugin.audio.io.shutil.disk_usage", lambda path: usage)
    with pytest.raises(AudioWriteError, match="no space left on device"):
        writer.write(np.zeros((1, 100), np.float32))


# ------------------------------------------------------------------------------------- dither


def _pcm16(path: Path) -> np.ndarray:
    """The raw 16-bit sample values of a mono wav."""
    with wave.open(str(path)) as file:
        return np.frombuffer(file.readframes(file.getnframes()), "<i2").astype(np.float64)


def _component(signal: np.ndarray, frequency: float, rate: int) -> float:
    """Amplitude of ``frequency`` in ``signal`` (least squares on a sine and a cosine)."""
    t = np.arange(len(signal)) / rate
    basis = np.stack([np.sin(2 * np.pi * frequency * t), np.cos(2 * np.pi * frequency * t)], 1)
    coefficients = np.linalg.lstsq(basis, signal, rcond=None)[0]
    return float(np.hypot(*coefficients))


def test_dither_keeps_a_sine_below_one_step_and_decorrelates_the_error(tmp_path: Path) -> None:
    rate, frequency = 48000, 1000.0
    t = np.arange(rate) / rate
    lsb = 1 / 32768
    quiet = 1e-5 * np.sin(2 * np.pi * frequency * t)  # -100 dBFS: a third of a 16-bit step
    dithered = _pcm16(write_audio(tmp_path / "quiet.wav", quiet, rate, "16"))
    assert np.any(dithered != 0)  # not zeroed
    assert _component(dithered, frequency, rate) == pytest.approx(1e-5 / lsb, rel=0.05)
    plain = _pcm16(write_audio(tmp_path / "plain.wav", quiet, rate, "16", dither=False))
    assert not np.any(plain)  # without dither the sine is gone

    # one step (-90 dBFS): rounded, it turns into a square-ish wave with a strong 3rd harmonic;
    # dithered, what is left at 3 kHz is noise, far below
    step = 1.2 * lsb * np.sin(2 * np.pi * frequency * t)
    rounded = _pcm16(write_audio(tmp_path / "r.wav", step, rate, "16", dither=False))
    noisy = _pcm16(write_audio(tmp_path / "d.wav", step, rate, "16"))
    assert _component(rounded, 3 * frequency, rate) > 0.05
    assert _component(noisy, 3 * frequency, rate) < 0.02
    error = noisy - step / lsb
    assert abs(np.corrcoef(error, step)[0, 1]) < 0.02  # error uncorrelated with the signal
    assert abs(error.mean()) < 0.02  # and without the truncation's half-step offset


def test_dither_is_reproducible_per_file_and_leaves_float_untouched(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    audio = (0.1 * rng.standard_normal((2, 4000))).astype(np.float32)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_audio(tmp_path / "a/violin.wav", audio, 44100, "24").read_bytes()
    again = write_audio(tmp_path / "b/violin.wav", audio, 44100, "24").read_bytes()
    other = write_audio(tmp_path / "a/cello.wav", audio, 44100, "24").read_bytes()
    assert first == again and first != other  # fixed seed per file name
    with AtomicAudioWriter(tmp_path / "b/blocks.wav", 44100, 2, "16") as writer:
        writer.write(audio[:, :1000])
        writer.write(audio[:, 1000:])
    whole = write_audio(tmp_path / "a/blocks.wav", audio, 44100, "16").read_bytes()
    assert (tmp_path / "b/blocks.wav").read_bytes() == whole  # the same in blocks or at once
    back, _ = read_audio(write_audio(tmp_path / "f.wav", audio, 44100, "32f"))
    assert np.array_equal(back, audio)  # float is never dithered


def test_a_bit_depth_given_as_a_number_is_told_it_wants_a_string() -> None:
    with pytest.raises(ValueError, match=r"expected one of '16', '24', '32f', got 24$"):
        check_output_format("wav", 24)  # type: ignore[arg-type]
