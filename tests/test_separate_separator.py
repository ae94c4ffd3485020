"""The Separator end to end with tiny stand-in models (identity, constant, recording)."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from helpers_separation import ConstantMasks, LoudnessMasks
from helpers_video import WIDTH, index_from_levels, make_marker_video, unnormalise
from torch import Tensor, nn

from avpc_plugin.audio.io import AudioWarning, InputRepairWarning, read_audio, write_audio
from avpc_plugin.audio.stft import CLIP_SAMPLES, MODEL_RATE
from avpc_plugin.separate import SeparationCancelled, Separator, StemQuery
from avpc_plugin.video.decode import audio_start_in_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_marker_video(tmp_path_factory.mktemp("sep") / "marker.mp4", frames=100)


def noise(rate: int, channels: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(0.2 * rng.standard_normal((channels, length)), -0.9, 0.9).astype(np.float32)


@pytest.mark.parametrize(
    ("rate", "channels", "length"),
    [(44100, 2, 44100 * 7 + 123), (48000, 1, 48000 * 3 + 1), (44100, 1, 3001), (48000, 2, 77)],
)
def test_identity_model_returns_the_input(
    video: Path, rate: int, channels: int, length: int
) -> None:
    audio = noise(rate, channels, length)
    separator = Separator(ConstantMasks(), device="cpu", batch_segments=2, block_seconds=2.0)
    result = separator.separate(audio, rate, [StemQuery("a", video)], residual=True)
    assert result.stems["a"].shape == audio.shape and result.stems["a"].dtype == np.float32
    assert np.abs(result["a"] - audio).max() < 1e-5
    assert np.abs(result["residual"]).max() < 1e-5


def test_identity_through_files(video: Path, tmp_path: Path) -> None:
    audio = noise(44100, 2, 44100 * 4 + 5)
    source = write_audio(tmp_path / "mix.wav", audio, 44100, "32f")
    separator = Separator(ConstantMasks(), device="cpu")
    written = separator.separate_to_files(
        source, {"a": tmp_path / "out" / "a.wav"}, stems=[StemQuery("a", video)], bit_depth="32f"
    )
    back, rate = read_audio(written["a"])
    assert rate == 44100 and back.shape == audio.shape
    assert np.abs(back - audio).max() < 1e-5


def test_stems_and_residual_sum_to_the_mix(video: Path) -> None:
    audio = noise(48000, 2, 48000 * 3 + 11)
    separator = Separator(LoudnessMasks(), device="cpu", block_seconds=1.0)
    stems = [StemQuery("a", video), StemQuery("b", video, box=(0, 0.5, 0.5, 0.5))]
    result = separator.separate(audio, 48000, stems, residual=True)
    total = result["a"] + result["b"] + result["residual"]
    assert np.abs(total - audio).max() < 1e-6
    assert np.abs(result["a"] - audio).max() > 1e-2  # the masks did something


def test_non_finite_input_samples_are_silenced_not_spread(video: Path) -> None:
    audio = noise(48000, 2, 48000 * 3)
    audio[1, 24000] = np.inf
    audio[0, 24010:24020] = np.nan
    separator = Separator(LoudnessMasks(), device="cpu", block_seconds=1.0)
    stems = [StemQuery("a", video), StemQuery("b", video, box=(0, 0.5, 0.5, 0.5))]
    with pytest.warns(AudioWarning, match=r"audio: non-finite .* near 0\.500 s"):
        result = separator.separate(audio, 48000, stems, residual=True)
    repaired = np.nan_to_num(audio, nan=0.0, posinf=0.0)
    assert all(np.isfinite(stem).all() for stem in result.stems.values())
    total = result["a"] + result["b"] + result["residual"]
    assert np.abs(total - repaired).max() < 1e-6  # the repaired input, sample for sample
    assert np.isnan(audio[0, 24010])  # the caller's array is left as it was


def test_normalised_masks_make_stems_sum_to_the_mix(video: Path) -> None:
    audio = noise(44100, 1, 44100 * 2)
    separator = Separator(ConstantMasks((0.0, 1.5)), device="cpu")
    stems = [StemQuery("a", video), StemQuery("b", video)]
    plain = separator.separate(audio, 44100, stems)
    assert np.abs(plain["a"] + plain["b"] - audio).max() > 0.1  # 0.5 + 0.82 != 1
    normalised = separator.separate(audio, 44100, stems, normalise=True)
    assert np.abs(normalised["a"] + normalised["b"] - audio).max() < 1e-5
    share = 1 / (1 + np.exp(-1.5))
    np.testing.assert_allclose(normalised["b"], audio * share / (share + 0.5), atol=1e-5)


def test_result_does_not_depend_on_blocks_or_batches(video: Path) -> None:
    audio = noise(48000, 2, 48000 * 8 + 3)
    stems = [StemQuery("a", video)]
    one = Separator(LoudnessMasks(), device="cpu", batch_segments=8, block_seconds=60.0)
    many = Separator(LoudnessMasks(), device="cpu", batch_segments=1, block_seconds=0.5)
    np.testing.assert_allclose(
        many.separate(audio, 48000, stems)["a"], one.separate(audio, 48000, stems)["a"], atol=1e-5
    )


def test_time_range_gives_exactly_that_range(video: Path) -> None:
    audio = noise(44100, 2, 44100 * 6)
    result = Separator(ConstantMasks(), device="cpu").separate(
        audio, 44100, [StemQuery("a", video)], start=1.5, end=4.25
    )
    assert result.start_sample == 66150
    np.testing.assert_allclose(result["a"], audio[:, 66150:187425], atol=1e-5)


def frame_indices(frames: Tensor) -> list[list[int]]:
    """Video frame index shown in each (window, frame) of a recorded (B, 1, 3, T, H, W) batch."""
    pixels = unnormalise(frames[:, 0].transpose(1, 2).flatten(0, 1))[:, 0, 20:90]
    per_frame = [
        index_from_levels(p[:, :60].mean().item(), p[:, -60:].mean().item()) for p in pixels
    ]
    t = frames.shape[3]
    return [per_frame[i : i + t] for i in range(0, len(per_frame), t)]


@pytest.mark.parametrize("offset", [0.0, 1.0])
def test_window_frames_come_from_the_window_times(video: Path, offset: float) -> None:
    model = ConstantMasks()
    audio = noise(44100, 1, 44100 * 8)
    Separator(model, device="cpu", batch_segments=4).separate(
        audio, 44100, [StemQuery("a", video, offset=offset)]
    )
    assert frame_indices(torch.cat(model.frames)) == expected_window_frames(offset)


def expected_window_frames(offset: float) -> list[list[int]]:
    """Marker frames of the two model windows of 8 s of audio, video time = audio time + offset."""
    centre = CLIP_SAMPLES / 2 / MODEL_RATE
    hop = 128 * 256 / MODEL_RATE
    expected = []
    for window in range(2):
        times = [min(max(centre + window * hop + d, 0.0), 8.0) + offset for d in (-3, 0, 3)]
        expected.append([int(np.floor(t * 10 + 1e-9)) for t in times])
    return expected


def test_a_containers_own_sync_places_its_frames(tmp_path: Path) -> None:
    # a camera file whose audio track starts 1 s after its first frame: audio time t shows the
    # frame at video time t + 1, with no offset given
    audio = noise(44100, 1, 44100 * 8)
    marker = make_marker_video(tmp_path / "marker.mkv", frames=100, audio=audio)
    shifted = tmp_path / "camera.mkv"
    with av.open(str(marker)) as source, av.open(str(shifted), "w") as target:
        streams = {s.index: target.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is None:
                continue
            if packet.stream.type == "audio":
                shift = int(1 / packet.time_base)
                packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
            packet.stream = streams[packet.stream.index]
            target.mux(packet)
    assert audio_start_in_video(shifted) == pytest.approx(1.0)
    model = ConstantMasks()
    Separator(model, device="cpu", batch_segments=4).separate(shifted, stems=[StemQuery("a")])
    assert frame_indices(torch.cat(model.frames)) == expected_window_frames(offset=1.0)


def test_box_selects_the_pixels_of_each_stem(video: Path) -> None:
    model = ConstantMasks()
    stems = [
        StemQuery("dark", video, box=(0, 0.5, 0.5, 0.5)),
        StemQuery("bright", video, box=(0.5, 0.5, 0.5, 0.5)),
    ]
    Separator(model, device="cpu").separate(noise(44100, 1, 4410), 44100, stems)
    frames = model.frames[0]  # (B, N, 3, T, H, W)
    dark, bright = (unnormalise(frames[:, n].transpose(1, 2).flatten(0, 1)) for n in range(2))
    assert dark.max() < 3 and bright.min() > 252
    assert WIDTH == 64  # the test video's size, which the boxes above assume


def test_video_shorter_than_the_audio_holds_its_last_frame(video: Path) -> None:
    # a take 1 s longer than its 10 s camera clip: separated whole, the last frame held, noted
    model = ConstantMasks()
    separator = Separator(model, device="cpu")
    audio = noise(44100, 1, 44100 * 11)
    with pytest.warns(InputRepairWarning, match=r"last frame is held for the last 1\.00 s"):
        result = separator.separate(audio, 44100, [StemQuery("a", video)])
    assert result["a"].shape == audio.shape
    assert max(max(window) for window in frame_indices(torch.cat(model.frames))) == 99
    with pytest.warns(InputRepairWarning, match=r"held for the last 1\.00 s"):  # offset counts
        separator.separate(noise(44100, 1, 44100 * 8), 44100, [StemQuery("a", video, offset=3)])
    with pytest.warns(InputRepairWarning, match=r"first frame is held for the first 0\.80 s"):
        separator.separate(noise(44100, 1, 44100 * 8), 44100, [StemQuery("a", video, offset=-0.8)])
    with warnings.catch_warnings():  # within the tolerance (default 0.5 s, or per call): quiet
        warnings.simplefilter("error")
        separator.separate(noise(44100, 1, 44100 * 10 + 4410), 44100, [StemQuery("a", video)])
        separator.separate(audio, 44100, [StemQuery("a", video)], video_tolerance=1.5)
        warnings.simplefilter("error", InputRepairWarning)  # as --strict: the repair fails it
        with pytest.raises(InputRepairWarning, match="held"):
            separator.separate(audio, 44100, [StemQuery("a", video)], video_tolerance=0.2)


def test_a_minimum_length_can_be_asked_for(video: Path) -> None:
    separator = Separator(ConstantMasks(), device="cpu", min_seconds=0.1)
    with pytest.raises(ValueError, match=r"too short to separate: 1 sample\(s\).*0\.1 s"):
        separator.separate(noise(44100, 1, 1), 44100, [StemQuery("a", video)])
    assert separator.separate(noise(44100, 1, 4410), 44100, [StemQuery("a", video)])["a"].size


def test_a_silent_residual_says_why(video: Path) -> None:
    separator = Separator(ConstantMasks(), device="cpu")
    stems = [StemQuery("a", video), StemQuery("b", video, box=(0, 0, 0.5, 0.5))]
    with pytest.warns(AudioWarning, match=r"residual is silent .* normalised \(--normalise\)"):
        separator.separate(noise(44100, 1, 44100), 44100, stems, residual=True, normalise=True)
    with warnings.catch_warnings():  # a residual with something in it: no word
        warnings.simplefilter("error")
        half = Separator(ConstantMasks((0.0,)), device="cpu")  # masks of 0.5
        half.separate(noise(44100, 1, 44100), 44100, stems[:1], residual=True)


def test_progress_and_cancel(video: Path, tmp_path: Path) -> None:
    audio = noise(44100, 1, 44100 * 9)
    seen: list[float] = []
    separator = Separator(ConstantMasks(), device="cpu", batch_segments=1, block_seconds=2.0)
    separator.separate(audio, 44100, [StemQuery("a", video)], progress=lambda f, m: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)

    cancel = threading.Event()

    def cancel_after_first(fraction: float, message: str) -> None:
        cancel.set()

    target = tmp_path / "a.wav"
    with pytest.raises(SeparationCancelled):
        separator.separate_to_files(
            audio,
            {"a": target},
            sample_rate=44100,
            stems=[StemQuery("a", video)],
            progress=cancel_after_first,
            cancel=cancel,
        )
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(video: Path) -> None:
    separator = Separator(ConstantMasks(), device="cpu")
    audio = noise(44100, 1, 1000)
    with pytest.raises(ValueError, match="duplicate"):
        separator.separate(audio, 44100, [StemQuery("a", video), StemQuery("a", video)])
    with pytest.raises(ValueError, match="sample_rate"):
        separator.separate(audio, None, [StemQuery("a", video)])
    with pytest.raises(ValueError, match="no video"):
        separator.separate(audio, 44100, [StemQuery("a")])
    with pytest.raises(ValueError, match="reserved"):
        StemQuery("residual", video)
    for bad in ("a/b", "a b", "_a", "..", "a" * 101):
        with pytest.raises(ValueError, match="stem name"):
            StemQuery(bad, video)
    assert StemQuery("二胡", video).name == "二胡"
    assert StemQuery("vio\u0301lin", video).name == "vi\u00f3lin"  # NFC: one file name
    with pytest.raises(TypeError, match="visual_features"):
        Separator(nn.Linear(2, 2))
