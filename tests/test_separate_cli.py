"""``avpc separate`` on real files, with a tiny identity model saved as a checkpoint."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from helpers_engine import make_video
from helpers_separation import IdentitySeparation
from helpers_video import make_camera_mp4, make_marker_video

from avpc_plugin.audio.io import read_audio, write_audio
from avpc_plugin.checkpoints.format import save_checkpoint
from avpc_plugin.separate.cli import separate_command


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(1)
    audio = np.clip(0.2 * rng.standard_normal((2, 44100 * 3)), -0.9, 0.9).astype(np.float32)
    junk = root / "junk.wav"
    junk.write_bytes(b"this is not audio" * 20)
    return {
        "model": save_checkpoint(IdentitySeparation(), root / "models", "identity"),
        "video": make_marker_video(root / "silent.mp4", frames=60),
        "with_audio": make_marker_video(root / "concert.mkv", frames=60, audio=audio),
        "wav": write_audio(root / "mix.wav", audio, 44100, "32f"),
        "long_wav": write_audio(root / "long.wav", np.zeros((1, 44100 * 9), np.float32), 44100),
        "junk": junk,
    }


def run(*args: str) -> Any:
    return CliRunner().invoke(separate_command, [str(a) for a in args], catch_exceptions=False)


def test_separates_a_video_with_its_own_audio(setup: dict[str, Path], tmp_path: Path) -> None:
    result = run(
        setup["with_audio"],
        "--stem",
        "left@0,0,0.5,1",
        "--stem",
        "right@0.5,0,0.5,1",
        "--residual",
        "-o",
        tmp_path,
        "--model",
        setup["model"],
        "--bit-depth",
        "32f",
    )
    assert result.exit_code == 0, result.output
    mix, _ = read_audio(setup["with_audio"])
    left, rate = read_audio(tmp_path / "concert" / "left.wav")
    residual, _ = read_audio(tmp_path / "concert" / "residual.wav")
    assert rate == 44100 and left.shape == mix.shape
    assert np.abs(left - mix).max() < 1e-5 and np.abs(residual + mix).max() < 1e-5
    assert "ok" in result.output


def test_batch_goes_on_after_bad_inputs(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(
        setup["wav"],
        tmp_path / "missing.wav",
        setup["junk"],
        setup["long_wav"],
        setup["video"],
        "--video",
        setup["video"],
        "--stem",
        "a",
        "-o",
        out,
        "--model",
        setup["model"],
        "--format",
        "flac",
    )
    assert result.exit_code != 0
    assert (out / "mix" / "a.flac").is_file()
    lines = result.output.splitlines()
    assert any("missing.wav" in line and "no such file" in line for line in lines)
    assert any("junk.wav" in line and "FAILED" in line for line in lines)
    assert any("long.wav" in line and " ok " in line for line in lines)  # its last frame held
    assert any("silent.mp4" in line and "no audio track" in line for line in lines)
    assert "3 of 5 input(s) failed" in result.output
    leftovers = [p for p in out.rglob("*") if p.is_file() and p.name != "a.flac"]
    assert leftovers == []  # no partial files


def test_audio_without_footage_is_refused_by_name(setup: dict[str, Path], tmp_path: Path) -> None:
    result = run(
        setup["wav"], setup["with_audio"], "--stem", "a", "-o", tmp_path, "--model", setup["model"]
    )
    assert result.exit_code != 0 and "1 of 2 input(s) failed" in result.output
    refused = [line for line in result.output.splitlines() if "FAILED" in line]
    assert len(refused) == 1 and "mix.wav" in refused[0] and "--video" in refused[0]
    assert not (tmp_path / "mix").exists() and (tmp_path / "concert" / "a.wav").is_file()


def test_existing_output_needs_overwrite(setup: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "mix" / "a.wav"
    target.parent.mkdir()
    target.write_bytes(b"keep me")
    args = [
        setup["wav"],
        "--video",
        setup["video"],
        "--stem",
        "a",
        "-o",
        tmp_path,
        "--model",
        setup["model"],
    ]
    result = run(*args)
    assert result.exit_code != 0 and "already exists" in result.output
    assert target.read_bytes() == b"keep me"
    assert run(*args, "--overwrite").exit_code == 0
    assert read_audio(target)[0].shape == (2, 44100 * 3)


def test_disk_error_names_the_file(setup: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "mix"
    blocker.write_text("a file where the track folder should go")
    result = run(
        setup["wav"],
        "--video",
        setup["video"],
        "--stem",
        "a",
        "-o",
        tmp_path,
        "--model",
        setup["model"],
    )
    assert result.exit_code != 0 and "cannot write" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stem", "a@0.8,0,0.5,1"], "outside the frame"),
        (["--stem", "a=violn"], "unknown preset 'violn'; did you mean 'violin'?"),
        (["--stem", "a", "--model", "no-such-model"], "no-such-model"),
        (["--stem", "a", "--format", "flac", "--bit-depth", "32f"], "32-bit float"),
        (["--stem", "a", "--shard", "3/2"], "--shard"),
        (["--stem", "a", "--template", "{track}.{ext}"], "{stem}"),
        (["--stem", "a", "--template", "{stem!r}.{ext}"], "no conversion"),
        (["--stem", "a", "--template", "{stem}"], "does not end in .wav"),
        (["--stem", "a", "--template", "../{stem}.{ext}"], "inside the output folder"),
        (["--stem", "Violin", "--stem", "violin"], "differ in case"),
        (["--stem", "Residual", "--residual"], "reserved"),
    ],
)
def test_bad_arguments_are_named(
    setup: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    base = [setup["wav"], "--video", setup["video"], "-o", tmp_path]
    if "--model" not in args:
        base += ["--model", setup["model"]]
    result = run(*base, *args)
    assert result.exit_code != 0
    assert message in result.output


def test_shards_split_the_inputs(setup: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.wav").write_bytes(setup["wav"].read_bytes())
    out = tmp_path / "out"
    result = run(
        folder,
        "--video",
        setup["video"],
        "--stem",
        "s",
        "-o",
        out,
        "--model",
        setup["model"],
        "--shard",
        "1/2",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.parent.name for p in out.rglob("*.wav")) == ["b"]


def test_a_named_preset_shapes_its_stem(
    setup: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVPC_PRESETS_PATH", str(tmp_path / "no-presets"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # only the shipped presets
    args = [setup["wav"], "--video", setup["video"], "--stem", "low=tuba", "--stem", "plain"]
    result = run(*args, "-o", tmp_path, "--model", setup["model"], "--bit-depth", "32f")
    assert result.exit_code == 0, result.output
    plain, rate = read_audio(tmp_path / "mix" / "plain.wav")
    low, _ = read_audio(tmp_path / "mix" / "low.wav")
    spectrum = np.abs(np.fft.rfft(low, axis=1)) ** 2
    reference = np.abs(np.fft.rfft(plain, axis=1)) ** 2
    hz = np.fft.rfftfreq(low.shape[1], 1 / rate)
    above = hz > 7000  # the tuba preset cuts at 6 kHz and zeroes bins above the model band
    assert spectrum[:, above].sum() < 1e-4 * reference[:, above].sum()
    middle = (hz > 200) & (hz < 2000)
    assert spectrum[:, middle].sum() > 0.1 * reference[:, middle].sum()


def test_a_shard_with_nothing_to_do_succeeds(setup: dict[str, Path], tmp_path: Path) -> None:
    # a cluster array with more tasks than inputs: the extra tasks are not failures
    args = [setup["wav"], "--video", setup["video"], "--stem", "s", "-o", tmp_path]
    result = run(*args, "--model", setup["model"], "--shard", "2/3")
    assert result.exit_code == 0 and "nothing to do (1 input(s) in all)" in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_input_named_twice_is_separated_once(setup: dict[str, Path], tmp_path: Path) -> None:
    wav = setup["wav"]
    args = [wav, wav.parent / ".." / wav.parent.name / wav.name, "--video", setup["video"]]
    result = run(*args, "--stem", "s", "-o", tmp_path, "--model", setup["model"])
    assert result.exit_code == 0, result.output
    assert result.output.count(" ok ") == 1


def test_repaired_input_and_clipped_stems_are_noted(setup: dict[str, Path], tmp_path: Path) -> None:
    audio, rate = read_audio(setup["wav"])
    audio[:, 1000:1010] = np.nan
    audio[0, 30000] = 3.0  # +9.5 dBFS: clipped in 24-bit
    damaged = write_audio(tmp_path / "damaged.wav", audio, rate, "32f")
    out = tmp_path / "out"
    args = [damaged, "--video", setup["video"], "--stem", "s", "--residual", "-o", out]
    result = run(*args, "--model", setup["model"])
    assert result.exit_code == 0, result.output
    assert "note: " in result.output and "non-finite samples" in result.output
    assert "near 0.023 s" in result.output  # 1000 / 44100
    assert "+9.5 dBFS and was clipped" in result.output
    stem, _ = read_audio(out / "damaged" / "s.wav")
    assert np.isfinite(stem).all()
    assert np.abs(stem[:, :900] - audio[:, :900]).max() < 1e-3  # the rest is untouched


@pytest.mark.parametrize(("signal_number", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_unwind_with_the_conventional_status(
    setup: dict[str, Path], tmp_path: Path, signal_number: int, status: int
) -> None:
    # a cluster's time limit sends SIGTERM (143), Ctrl-C SIGINT (130, not click's "Aborted!" 1):
    # the run stops and leaves no partial file
    rng = np.random.default_rng(2)
    long = write_audio(tmp_path / "long.wav", 0.1 * rng.standard_normal((1, 44100 * 60)), 44100)
    video = make_video(tmp_path / "long.mp4", 60.0)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "avpc_plugin.cli", "separate", str(long), "--video"]
    command += [str(video), "--stem", "s", "-o", str(out), "--model", "avpc-synth"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(out.rglob(".*.partial.wav")) and proc.poll() is None:
            assert time.monotonic() < deadline, "no partial file appeared"
            time.sleep(0.05)
        proc.send_signal(signal_number)
        _, stderr = proc.communicate(timeout=60)  # drains the pipes while it unwinds
    finally:
        proc.kill()
    tail = stderr.decode(errors="replace")[-2000:]
    # the shell reports 128 + N both for exit(128 + N) and for death by signal N (-N here): a
    # late second interrupt during interpreter shutdown makes Python re-raise the signal
    assert proc.returncode in (status, -signal_number), tail
    assert "interrupted" in tail or signal_number == signal.SIGTERM, tail
    assert [p for p in out.rglob("*") if p.is_file()] == [], tail


def test_a_take_longer_than_its_footage_holds_the_last_frame(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    # 9 s of audio, 6 s of video: separated whole, the last frame held for 3 s, with a note
    args = [setup["long_wav"], "--video", setup["video"], "--stem", "s", "--model", setup["model"]]
    result = run(*args, "-o", tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert "note: " in result.output and "last frame is held for the last 3.00 s" in result.output
    assert read_audio(tmp_path / "a" / "long" / "s.wav")[0].shape == (1, 44100 * 9)
    result = run(*args, "-o", tmp_path / "b", "--video-tolerance", "3.5")  # quietly within it
    assert result.exit_code == 0 and "note:" not in result.output, result.output
    result = run(*args, "-o", tmp_path / "c", "--strict")
    assert result.exit_code != 0 and "held for the last 3.00 s" in result.output
    assert "--strict" in result.output and not (tmp_path / "c").exists()


@pytest.fixture(scope="module")
def truncated_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s faststart camera mp4 cut to 40 % of its bytes: the index still states 4 s."""
    root = tmp_path_factory.mktemp("cut")
    whole = make_camera_mp4(root / "whole.mp4", seconds=4.0).read_bytes()
    cut = root / "cut.mp4"
    cut.write_bytes(whole[: len(whole) * 2 // 5])
    return cut


def test_a_truncated_mp4_is_noted_and_strict_fails_it(
    setup: dict[str, Path], truncated_mp4: Path, tmp_path: Path
) -> None:
    args = [truncated_mp4, "--stem", "s", "--model", setup["model"]]
    result = run(*args, "-o", tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert "note: " in result.output and "the container says 4.00 s of audio but only" in (
        result.output
    )
    stem, rate = read_audio(tmp_path / "a" / "cut" / "s.wav")
    assert 0.5 < stem.shape[1] / rate < 3.0
    result = run(*args, "-o", tmp_path / "b", "--strict")
    assert result.exit_code != 0 and "FAILED" in result.output and "--strict" in result.output
    assert not (tmp_path / "b").exists()


def test_strict_fails_an_input_with_non_finite_samples(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    audio, rate = read_audio(setup["wav"])
    audio[:, 50000:50010] = np.inf
    damaged = write_audio(tmp_path / "damaged.wav", audio, rate, "32f")
    args = [damaged, "--video", setup["video"], "--stem", "s", "-o", tmp_path / "out"]
    result = run(*args, "--model", setup["model"], "--strict")
    assert result.exit_code != 0 and "non-finite samples" in result.output
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_a_silent_residual_is_noted(setup: dict[str, Path], tmp_path: Path) -> None:
    args = [setup["wav"], "--video", setup["video"], "--stem", "a", "--stem", "b@0,0,0.5,0.5"]
    result = run(*args, "--normalise", "--residual", "-o", tmp_path, "--model", setup["model"])
    assert result.exit_code == 0, result.output
    assert "note: " in result.output and "the residual is silent" in result.output
    assert "--normalise" in result.output


def test_an_input_too_short_to_separate_is_refused(setup: dict[str, Path], tmp_path: Path) -> None:
    tiny = write_audio(tmp_path / "tiny.wav", np.full((1, 1), 0.5, np.float32), 44100)
    args = [tiny, "--video", setup["video"], "--stem", "s", "-o", tmp_path / "out"]
    result = run(*args, "--model", setup["model"])
    assert result.exit_code != 0
    assert "too short to separate: 1 sample(s)" in result.output and "0.1 s" in result.output
    assert not (tmp_path / "out").exists()


def test_inputs_differing_only_in_extension_get_their_own_tracks(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.mkv", "a.mov"):  # one content; the container format is read from it
        (folder / name).write_bytes(setup["with_audio"].read_bytes())
    out = tmp_path / "out"
    result = run(folder, "--stem", "s", "-o", out, "--model", setup["model"])
    assert result.exit_code == 0, result.output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.wav")) == ["a-mov/s.wav", "a/s.wav"]
    assert "note: " in result.output and "its track is named 'a-mov'" in result.output


def test_16_bit_stems_are_dithered_unless_no_dither(setup: dict[str, Path], tmp_path: Path) -> None:
    common = ["--stem", "a", "--video", setup["video"], "--model", setup["model"]]
    for folder, extra in (("f", ["--bit-depth", "32f"]), ("d", ["--bit-depth", "16"]),
                          ("r", ["--bit-depth", "16", "--no-dither"])):  # fmt: skip
        result = run(setup["wav"], *common, *extra, "-o", tmp_path / folder)
        assert result.exit_code == 0, result.output
    exact, _ = read_audio(tmp_path / "f/mix/a.wav")
    steps = np.clip(np.round(exact.astype(np.float64) * 32768), -32768, 32767)
    rounded, _ = read_audio(tmp_path / "r/mix/a.wav")
    dithered, _ = read_audio(tmp_path / "d/mix/a.wav")
    assert np.array_equal(np.round(rounded * 32767.0), steps)  # --no-dither: the nearest step
    off = np.round(dithered * 32767.0) - steps
    assert np.abs(off).max() <= 1 and 0.2 < np.mean(off != 0) < 0.8  # TPDF: within a step


def test_a_range_that_ends_before_it_starts_is_a_usage_error(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    args = [setup["wav"], "--video", setup["video"], "--stem", "s", "-o", tmp_path]
    result = run(*args, "--model", setup["model"], "--start", "5", "--end", "2")
    assert result.exit_code == 2 and "--end" in result.output and "after --start" in result.output
    result = run(*args, "--model", setup["model"], "--start", "-1")
    assert result.exit_code == 2 and "--start" in result.output
    assert not list(tmp_path.rglob("*.wav"))
