"""The synthetic corpus: instruments, melodies, soundfont rendering, motion, clips and index."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from avpc_plugin.data.instruments import INSTRUMENT_NAMES, INSTRUMENTS, Instrument, Relative
from avpc_plugin.data.melodies import generate_performance, scale_pitches
from avpc_plugin.data.motion import Camera, frame_envelopes, performer_motion, render_frames
from avpc_plugin.data.pictures import OPENCLIPART, picture_sources
from avpc_plugin.data.render import SOUNDFONT_FILES, SoundfontRenderer, find_soundfonts

MUSIC_CLASSES = {
    "accordion", "acoustic_guitar", "cello", "clarinet", "erhu", "flute",
    "saxophone", "trumpet", "tuba", "violin", "xylophone",
}  # fmt: skip


def _val_soundfont() -> Path:
    try:
        return find_soundfonts("val")[0]
    except FileNotFoundError as error:
        pytest.skip(str(error))


def test_instrument_table_covers_the_music_classes_with_gm_programs() -> None:
    assert set(INSTRUMENT_NAMES) == MUSIC_CLASSES
    assert INSTRUMENTS["violin"].gm_program == 40  # GM "Violin" is program 41, 0-based 40
    assert INSTRUMENTS["tuba"].low < INSTRUMENTS["cello"].low < INSTRUMENTS["violin"].low
    assert INSTRUMENTS["flute"].high > INSTRUMENTS["tuba"].high


def test_scale_pitches_known_answer() -> None:
    assert scale_pitches(0, "major", 60, 72).tolist() == [60, 62, 64, 65, 67, 69, 71, 72]
    assert scale_pitches(9, "pentatonic", 57, 69).tolist() == [57, 59, 61, 64, 66, 69]


@pytest.mark.parametrize("name", sorted(MUSIC_CLASSES))
def test_melodies_stay_in_range_and_fill_the_clip(name: str) -> None:
    instrument = INSTRUMENTS[name]
    for seed in range(15):
        notes = generate_performance(instrument, 6.0, np.random.default_rng(seed)).notes
        pitches = [n.pitch for n in notes]
        assert min(pitches) >= instrument.low and max(pitches) <= instrument.high
        assert all(0 <= n.start < 6.0 and n.duration > 0 and 1 <= n.velocity <= 127 for n in notes)
        assert max(n.start + n.duration for n in notes) > 4.0  # it plays on past two thirds
    first = generate_performance(instrument, 4.0, np.random.default_rng(7))
    assert first == generate_performance(instrument, 4.0, np.random.default_rng(7))


def test_render_plays_the_requested_pitch_at_model_rate_and_full_rate() -> None:
    from avpc_plugin.data.melodies import Note

    soundfont = _val_soundfont()
    a4 = (Note(0.0, 1.5, 69, 100),)
    with SoundfontRenderer(soundfont, 11025) as renderer:
        audio = renderer.render(a4, INSTRUMENTS["flute"].gm_program, 2.0)
    assert audio.shape == (1, 22050) and audio.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(audio[0, 2000:14000] * np.hanning(12000)))
    fundamental = np.argmax(spectrum) * 11025 / 12000
    assert abs(fundamental - 440.0) < 8.0
    assert np.abs(audio[0, -2000:]).max() < 0.1 * np.abs(audio).max()  # released after 1.5 s
    with SoundfontRenderer(soundfont, 44100, stereo=True) as renderer:
        stereo = renderer.render(a4, INSTRUMENTS["violin"].gm_program, 1.0)
    assert stereo.shape == (2, 44100)


def test_motion_follows_loudness_and_onsets() -> None:
    rate, fps = 11025, 16.0
    t = np.arange(4 * rate) / rate
    envelope = np.where((t % 1.0) < 0.5, 1.0, 0.05)  # loud half-seconds with sharp onsets
    audio = envelope * np.sin(2 * np.pi * 330 * t)
    loudness, onsets = frame_envelopes(audio, rate, fps, 64)
    frame_env = envelope[(np.arange(64) / fps * rate).astype(int)]
    assert np.corrcoef(loudness, frame_env)[0, 1] > 0.9
    assert set(np.flatnonzero(onsets > 0.5)) <= {0, 1, 16, 17, 32, 33, 48, 49}
    motion = performer_motion(loudness, onsets, fps, np.random.default_rng(0))
    assert np.corrcoef(motion.scale, loudness)[0, 1] > 0.6
    assert motion.dy[17] < motion.dy[14] - 0.01  # a bounce (up is negative) right after an onset

    # Rendered: a white square on black grows on screen when the sound is loud.
    picture = np.zeros((32, 32, 4), np.uint8)
    picture[4:28, 4:28] = 255
    camera = Camera(0.5, (0.5, 0.5), jitter=0.0, zoom=(1.0, 1.0), blur=0.0, noise=0.0)
    frames = render_frames(
        picture, np.zeros((64, 64, 3), np.uint8), motion, camera, np.random.default_rng(0)
    )
    area = (frames.mean(axis=-1) > 127).sum(axis=(1, 2))
    assert frames.shape == (64, 64, 64, 3)
    assert np.corrcoef(area, motion.scale)[0, 1] > 0.8


def test_train_and_val_share_no_sound_or_picture_source() -> None:
    assert not set(SOUNDFONT_FILES["train"]) & set(SOUNDFONT_FILES["val"])
    train_files = {f for files in OPENCLIPART["train"].values() for f in files}
    val_files = {f for files in OPENCLIPART["val"].values() for f in files}
    assert not train_files & val_files
    for name in INSTRUMENT_NAMES:
        train = {s.key for s in picture_sources("train", name)}
        val = {s.key for s in picture_sources("val", name)}
        assert train and val and not train & val, name


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_synth_writes_requested_clips_deterministically(tmp_path: Path) -> None:
    import av
    from pedalboard.io import AudioFile

    from avpc_plugin.data.corpus import SynthConfig, read_index, synthesize_corpus

    _val_soundfont()
    config = SynthConfig(duration=2.0, fps=8.0, size=64)
    records = synthesize_corpus(tmp_path / "a", "val", clips=3, seed=5, config=config, workers=1)
    assert [r.instrument for r in records] == list(INSTRUMENT_NAMES[:3])
    assert [r["id"] for r in read_index(tmp_path / "a")] == [r.id for r in records]
    for record in records:
        with AudioFile(str(tmp_path / "a" / record.audio)) as f:
            assert (f.samplerate, f.num_channels, f.frames) == (11025, 1, 22050)
        with av.open(str(tmp_path / "a" / record.video)) as container:
            stream = container.streams.video[0]
            frame_rate = float(stream.average_rate)
            decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert len(decoded) == 16 and decoded[0].shape == (64, 64, 3)
        assert frame_rate == 8.0
        instrument = INSTRUMENTS[record.instrument]
        assert instrument.low <= record.pitch_low <= record.pitch_high <= instrument.high
    # Same seed, same files, whether made in this process or spread over two workers.
    synthesize_corpus(tmp_path / "b", "val", clips=3, seed=5, config=config, workers=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    synthesize_corpus(tmp_path / "c", "val", clips=1, seed=6, config=config, workers=1)
    assert (
        _digest(tmp_path / "c")["audio/val_000000.wav"]
        != _digest(tmp_path / "a")["audio/val_000000.wav"]
    )


def test_train_split_uses_train_sources_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A train corpus never touches a val soundfont or picture (the big train soundfonts are
    stood in for by a link named like one, so the test runs without installing them)."""
    from avpc_plugin.data.corpus import SynthConfig, synthesize_corpus

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / SOUNDFONT_FILES["train"][0]).symlink_to(_val_soundfont())
    monkeypatch.setenv("AVPC_SOUNDFONT_DIRS", str(fonts))
    monkeypatch.setattr("avpc_plugin.data.render.SOUNDFONT_DIRS", ())
    config = SynthConfig(duration=1.0, size=32)
    train = synthesize_corpus(tmp_path / "t", "train", clips=11, seed=1, config=config, workers=1)
    assert {r.soundfont for r in train} == {SOUNDFONT_FILES["train"][0]}
    for record in train:
        assert record.picture in {s.key for s in picture_sources("train", record.instrument)}
        assert record.picture not in {s.key for s in picture_sources("val", record.instrument)}


def test_bench_of_the_train_split_draws_seen_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``avpc data bench --split train``: a set of new performances with training sounds and
    pictures (the in-distribution check next to the default held-out val set)."""
    import json

    from click.testing import CliRunner

    from avpc_plugin.cli import main

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / SOUNDFONT_FILES["train"][0]).symlink_to(_val_soundfont())
    monkeypatch.setenv("AVPC_SOUNDFONT_DIRS", str(fonts))
    monkeypatch.setattr("avpc_plugin.data.render.SOUNDFONT_DIRS", ())
    out = tmp_path / "bench"
    args = ["data", "bench", "--out", str(out), "--split", "train", "--clips", "11"]
    result = CliRunner().invoke(main, [*args, "--pairs", "2", "--triples", "1", "--workers", "1"])
    assert result.exit_code == 0, result.output
    records = [
        json.loads(line) for line in (out / "corpus" / "index.jsonl").read_text().splitlines()
    ]
    assert len(records) == 11 and {r["split"] for r in records} == {"train"}
    assert {r["soundfont"] for r in records} == {SOUNDFONT_FILES["train"][0]}
    manifest = (out / "manifest.jsonl").read_text().splitlines()
    assert [len(json.loads(line)["sources"]) for line in manifest] == [2, 2, 3]


def test_synth_plays_extra_soundfonts_beside_the_splits_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``avpc data synth --soundfont F``: clips draw from the split's soundfonts and F."""
    import json
    import shutil

    from click.testing import CliRunner

    from avpc_plugin.cli import main

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / SOUNDFONT_FILES["train"][0]).symlink_to(_val_soundfont())
    extra = shutil.copy(_val_soundfont(), tmp_path / "Extra.sf2")  # a file of another name
    monkeypatch.setenv("AVPC_SOUNDFONT_DIRS", str(fonts))
    monkeypatch.setattr("avpc_plugin.data.render.SOUNDFONT_DIRS", ())
    out = tmp_path / "corpus"
    args = ["data", "synth", "--out", str(out), "--split", "train", "--clips", "11"]
    args += ["--duration", "1", "--size", "32", "--workers", "1", "--soundfont", str(extra)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert {r["soundfont"] for r in records} == {SOUNDFONT_FILES["train"][0], "Extra.sf2"}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("TimGM6mb.sf2", "of the val split"),
        ("sf_GMbank.sf2", "of the val split"),
        ("notes.txt", "expected an .sf2 or .sf3 file"),
    ],
)
def test_synth_refuses_extra_soundfonts_that_leak_val_sounds(
    tmp_path: Path, name: str, message: str
) -> None:
    from click.testing import CliRunner

    from avpc_plugin.cli import main

    font = tmp_path / name
    font.write_bytes(b"RIFF")
    args = ["data", "synth", "--out", str(tmp_path / "c"), "--split", "train", "--clips", "1"]
    result = CliRunner().invoke(main, [*args, "--soundfont", str(font)])
    assert result.exit_code == 2
    assert "--soundfont" in result.output and message in result.output
    assert str(font) in result.output
    assert not (tmp_path / "c").exists()


def test_a_val_corpus_may_not_add_a_train_soundfont(tmp_path: Path) -> None:
    from avpc_plugin.data.render import check_extra_soundfonts

    font = tmp_path / SOUNDFONT_FILES["train"][0]
    font.write_bytes(b"RIFF")
    with pytest.raises(ValueError, match="of the train split; a val corpus may not use it"):
        check_extra_soundfonts("val", (font,))
    check_extra_soundfonts("train", (font,))  # its own split's: allowed


def test_kin_programs_stand_in_at_the_requested_share_and_leave_other_draws_alone() -> None:
    from avpc_plugin.data.corpus import pick_program

    violin, clarinet = INSTRUMENTS["violin"], INSTRUMENTS["clarinet"]
    assert [r.program for r in violin.kin] == [41] and clarinet.kin == ()  # a viola; none

    def picks(name: str, share: float, phrase: tuple[int, int] = (60, 70)) -> list[int]:
        instrument = INSTRUMENTS[name]
        rngs = [np.random.default_rng([3, i]) for i in range(400)]
        return [pick_program(instrument, share, phrase, rng) for rng in rngs]

    assert set(picks("violin", 0.0)) == {40}
    assert set(picks("violin", 1.0)) == {41}
    assert set(picks("violin", 1.0, phrase=(60, 98))) == {40}  # above the viola's C7
    assert set(picks("cello", 1.0, phrase=(40, 57))) == {43}  # a contrabass up to A3 only
    assert set(picks("cello", 1.0, phrase=(40, 58))) == {42}
    assert set(picks("clarinet", 1.0)) == {71}
    saxes = picks("saxophone", 0.5)
    shares = {p: saxes.count(p) / len(saxes) for p in (65, 64, 66)}
    assert abs(shares[65] - 0.5) < 0.08 and abs(shares[64] - 0.25) < 0.08, shares
    # The choice comes from a spawned generator: the caller's stream is unchanged.
    rng, untouched = np.random.default_rng(7), np.random.default_rng(7)
    pick_program(violin, 0.5, (60, 70), rng)
    assert rng.random() == untouched.random()


def test_instrument_kin_is_checked() -> None:
    with pytest.raises(ValueError, match="kin must not repeat"):
        Instrument("viol", 40, 50, 80, "sustained", kin=(Relative(40),))
    with pytest.raises(ValueError, match=r"0\.\.127, got 128"):
        Relative(128)
    with pytest.raises(ValueError, match=r"low <= high <= 127, got \(60, 50\)"):
        Relative(41, 60, 50)


def test_synth_with_kin_plays_relatives_of_the_same_performances(tmp_path: Path) -> None:
    """``--kin-share 1``: every clip of an instrument with kin plays a relative whose range
    holds its phrase (recorded as ``program`` in the index); melody, soundfont and picture are
    the clips without kin's.

    Which phrases a seed gives depends on the picture packages installed (a class with one
    picture draws no number for it), so the expected programs come from each clip's own
    phrase, not from a list written on one machine.
    """
    import json
    from collections import Counter

    from click.testing import CliRunner

    from avpc_plugin.cli import main

    _val_soundfont()
    base = ["data", "synth", "--split", "val", "--clips", "6", "--seed", "2"]
    base += ["--duration", "1", "--size", "32", "--workers", "1"]
    indexes, outputs = {}, {}
    for share in ("0", "1"):
        out = tmp_path / f"kin{share}"
        result = CliRunner().invoke(main, [*base, "--out", str(out), "--kin-share", share])
        assert result.exit_code == 0, result.output
        assert "soundfonts: TimGM6mb.sf2 6" in result.output
        lines = (out / "index.jsonl").read_text().splitlines()
        indexes[share] = [json.loads(line) for line in lines]
        outputs[share] = result.output
        kinds = Counter(record["picture"].split(":")[0] for record in indexes[share])
        listed = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
        assert f"pictures: {listed}\n" in result.output
    relatives = 0
    for own, kin in zip(indexes["0"], indexes["1"], strict=True):
        instrument = INSTRUMENTS[own["instrument"]]
        assert own["program"] == instrument.gm_program
        same = ("soundfont", "picture", "tempo", "key", "notes", "pitch_low", "pitch_high")
        assert {k: own[k] for k in same} == {k: kin[k] for k in same}
        # the first six classes have at most one relative each, so share 1 leaves no choice
        assert len(instrument.kin) <= 1
        fits = [r.program for r in instrument.kin if r.plays(kin["pitch_low"], kin["pitch_high"])]
        assert kin["program"] == (fits[0] if fits else instrument.gm_program), kin["id"]
        relatives += bool(fits)
    assert relatives >= 3  # accordion, guitar and flute: relatives with the full range
    assert "played by a relative" not in outputs["0"]
    assert f"played by a relative: {relatives} of 6 clips" in outputs["1"]
    result = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "x"), "--kin-share", "2"])
    assert result.exit_code == 2 and "--kin-share" in result.output


def test_a_corpus_grows_in_steps_and_a_stopped_step_is_redone(tmp_path: Path) -> None:
    from avpc_plugin.data.corpus import SynthConfig, read_index, synthesize_corpus

    _val_soundfont()
    config = SynthConfig(duration=1.0, fps=4.0, size=32)
    whole = synthesize_corpus(tmp_path / "whole", "val", clips=3, seed=2, config=config, workers=1)
    steps = tmp_path / "steps"
    synthesize_corpus(steps, "val", clips=2, seed=2, config=config, workers=1)
    synthesize_corpus(steps, "val", clips=1, seed=2, config=config, workers=1, start=2)
    synthesize_corpus(steps, "val", clips=1, seed=2, config=config, workers=1, start=2)  # redone
    assert [r["id"] for r in read_index(steps)] == [r.id for r in whole]
    assert _digest(steps) == _digest(tmp_path / "whole")
    synthesize_corpus(steps, "val", clips=1, seed=2, config=config, workers=1, start=1)
    assert [r["id"] for r in read_index(steps)] == [whole[0].id, whole[1].id]
