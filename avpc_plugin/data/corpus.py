"""Generate the synthetic solo corpus: one wav + one mp4 per performance, and an index.

Layout of a corpus folder (paths in the index are relative to it)::

    DIR/index.jsonl          one JSON object per clip, sorted by id (see ClipRecord)
    DIR/audio/<id>.wav       16-bit PCM, mono at 11025 Hz by default (or 44.1 kHz stereo)
    DIR/video/<id>.mp4       H.264 at ``fps`` (8 by default), ``size`` x ``size`` pixels (and,
                             with ``audio_in_video``, the same audio as AAC)

Clip ``i`` of a split depends only on ``(seed, i)``: instruments go round the 11 classes in
order, every other choice (soundfont, picture, melody, room, motion, camera, and for the train
split the camera-like looks of :mod:`~avpc_plugin.data.looks`) is drawn from
``numpy.random.default_rng([seed, i])``, so a corpus is reproducible file for file and clips can be
made in any order on any number of worker processes, on machines that hold the same soundfonts and
picture packages (``make corpus-deps``): which of them a split may use is what is installed, and
a class with one picture source draws no number for it, so a missing package changes the later
draws too (``avpc data synth`` prints how many clips each sound family, soundfont and picture
kind made). A train corpus may mix sound families (``SynthConfig.families``: soundfonts, STK
physical models, additive templates; see :mod:`avpc_plugin.data.voices`); the family is drawn
from a spawned generator, like the kin program, so it changes no other draw. The val split's
pictures and its draws for them are frozen (:mod:`~avpc_plugin.data.pictures`): a val seed gives
the same clips, and so the same benchmark set and demo scene, as before the train pictures grew.
Whether a clip plays a kin instrument's program (``SynthConfig.kin_share``) is drawn from a
generator spawned off that one, so the same seed with and without kin gives the same performances
(melody, soundfont, picture, room, camera) played by other instruments.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avpc_plugin.atomic import write_text_atomically
from avpc_plugin.data.instruments import INSTRUMENT_NAMES, Instrument, get_instrument
from avpc_plugin.data.looks import dress_background, dress_picture, finish_frames
from avpc_plugin.data.melodies import Performance, generate_performance
from avpc_plugin.data.motion import Camera, frame_envelopes, performer_motion, render_frames
from avpc_plugin.data.pictures import (
    PictureSource,
    load_picture,
    pick_picture,
    picture_sources,
    random_background,
)
from avpc_plugin.data.render import Split, check_extra_soundfonts, find_soundfonts
from avpc_plugin.data.room import RoomSettings
from avpc_plugin.data.voices import (
    SoundfontVoice,
    Voice,
    available_families,
    draw_voice,
)
from avpc_plugin.video.encode import write_mp4

INDEX_NAME = "index.jsonl"


@dataclass(frozen=True)
class SynthConfig:
    """What every clip of a generated corpus looks and sounds like."""

    duration: float = 6.0
    """Seconds per clip (6 s covers one 65535-sample model window at 11025 Hz)."""
    sample_rate: int = 11025
    """Audio rate in Hz."""
    stereo: bool = False
    """Write two channels (the full-rate test option: ``sample_rate=44100, stereo=True``)."""
    fps: float = 8.0
    """Video frame rate."""
    size: int = 256
    """Video width and height in pixels (even, >= 224)."""
    audio_in_video: bool = False
    """Also mux the audio into the mp4 as AAC (an ordinary performance video; costs ~30 %
    more time). The wav file is always written."""
    extra_soundfonts: tuple[Path, ...] = ()
    """Soundfont files played beside the split's own (each clip draws one of them all); checked
    by :func:`~avpc_plugin.data.render.check_extra_soundfonts` when a corpus is made."""
    kin_share: float = 0.0
    """Share of an instrument's clips, in ``[0, 1]``, played with one of its kin's GM programs
    (:attr:`~avpc_plugin.data.instruments.Instrument.kin`: a viola for the violin, a contrabass
    for the cello, ...) for timbre variety; instruments without kin always play their own."""
    families: tuple[str, ...] = ("soundfont",)
    """Sound families a train clip draws among (:data:`~avpc_plugin.data.voices.FAMILIES`:
    ``"soundfont"``, ``"stk"``, ``"additive"``; ``"soundfont"`` must be one); val clips always
    play their soundfont. ``"stk"`` is skipped where ``stk-demo`` is not installed."""
    varied_rooms: bool = False
    """Also vary the reverb kind, microphone colour and noise floor of every clip
    (:meth:`~avpc_plugin.data.room.RoomSettings.random`); melodies, pictures and cameras stay
    the same as without."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.kin_share <= 1.0:
            raise ValueError(f"kin_share: expected a share in [0, 1], got {self.kin_share}")
        if self.duration <= 0:
            raise ValueError(f"duration: expected > 0 s, got {self.duration}")
        if self.size % 2 or self.size < 32:
            raise ValueError(f"size: expected an even number of pixels >= 32, got {self.size}")
        if self.fps <= 0:
            raise ValueError(f"fps: expected > 0, got {self.fps}")
        available_families("val", self.families)  # raises on an unknown family

    @property
    def n_frames(self) -> int:
        """Video frames per clip: frame ``k`` shows time ``k / fps``."""
        return round(self.duration * self.fps)


@dataclass(frozen=True)
class ClipRecord:
    """One line of ``index.jsonl``."""

    id: str
    split: str
    instrument: str
    audio: str
    video: str
    sample_rate: int
    channels: int
    duration: float
    fps: float
    frames: int
    size: int
    soundfont: str
    """The soundfont played (family ``"soundfont"``), else ``""``."""
    family: str
    """The sound family: ``"soundfont"``, ``"stk"`` or ``"additive"``."""
    sound: str
    """What played: the soundfont file, ``"stk:<model>"`` or ``"additive:<class>"``."""
    program: int
    picture: str
    tempo: float
    key: str
    articulation: str
    dynamic: str
    pitch_low: int
    pitch_high: int
    notes: int
    seed: int
    index: int


@dataclass(frozen=True)
class SoloPerformance:
    """One rendered performer: what it sounds like, what it looks like, what it was made from."""

    audio: np.ndarray
    """float32 ``(channels, duration * sample_rate)``, peak in ``[0.3, 0.9]``."""
    frames: np.ndarray
    """RGB uint8 ``(n_frames, size, size, 3)``, moving with the audio."""
    voice: Voice
    """What played it (its ``family`` and ``name``)."""
    soundfont: Path
    """The soundfont drawn for the clip (played only when ``voice.family`` is soundfont)."""
    program: int
    """The 0-based GM program drawn: the instrument's own or one of its kin's."""
    picture: PictureSource
    performance: Performance


def perform_solo(
    instrument_name: str, split: Split, rng: np.random.Generator, config: SynthConfig
) -> SoloPerformance:
    """Render one performer of ``instrument_name`` with the ``split``'s sounds and pictures.

    Every random choice (soundfont, picture, melody, room, level, motion, backdrop, camera and,
    in the train split, the looks) is drawn from ``rng`` in a fixed order, so the same generator
    state gives the same performer;
    the program (:func:`pick_program`) comes from a generator spawned off ``rng``, which leaves
    ``rng``'s draws as they are, and so does the train split's sound family
    (:func:`~avpc_plugin.data.voices.draw_voice`) and, with ``config.varied_rooms``, the
    microphone and noise floor.

    Raises:
        RuntimeError: the voice rendered silence.
    """
    instrument = get_instrument(instrument_name)
    soundfonts = sorted(find_soundfonts(split), key=lambda p: p.name)
    soundfonts += [p for p in config.extra_soundfonts if p.name not in {f.name for f in soundfonts}]
    soundfont = soundfonts[int(rng.integers(len(soundfonts)))]
    picture = pick_picture(picture_sources(split, instrument.name), rng, split)

    performance = generate_performance(instrument, config.duration, rng)
    pitches = [note.pitch for note in performance.notes]
    program = pick_program(instrument, config.kin_share, (min(pitches), max(pitches)), rng)
    vibrato = int(rng.integers(0, 50)) if instrument.behaviour == "sustained" else 0
    sampled = SoundfontVoice(soundfont, program, vibrato, config.sample_rate, config.stereo)
    families = available_families(split, config.families)
    voice = draw_voice(instrument, (min(pitches), max(pitches)), families, sampled, rng)
    room = RoomSettings.random(rng, varied=config.varied_rooms)
    audio = voice.render(performance.notes, config.duration, room)
    peak = float(np.abs(audio).max())
    if not np.isfinite(peak) or peak <= 0:
        raise RuntimeError(f"{voice.name} rendered silence for {instrument.name}")
    audio *= float(rng.uniform(0.3, 0.9)) / peak

    loudness, onsets = frame_envelopes(audio, config.sample_rate, config.fps, config.n_frames)
    motion = performer_motion(loudness, onsets, config.fps, rng)
    background = random_background(rng, config.size)
    image = load_picture(picture, config.size)
    # Camera-like looks for train only: a val clip draws exactly the numbers it always has.
    if split == "train":
        image, background = dress_picture(image, rng), dress_background(background, rng)
    frames = render_frames(image, background, motion, Camera.random(rng), rng)
    if split == "train":
        frames = finish_frames(frames, rng)
    return SoloPerformance(audio, frames, voice, soundfont, program, picture, performance)


def pick_program(
    instrument: Instrument,
    kin_share: float,
    phrase: tuple[int, int],
    rng: np.random.Generator,
) -> int:
    """The GM program a performer of ``instrument`` plays: with probability ``kin_share`` one
    of its kin (uniformly among them), else its own; a relative whose range does not hold the
    ``phrase``'s lowest and highest MIDI notes gives way to the instrument's own program.

    Draws from a generator spawned off ``rng`` (only when there is a choice to make), so
    ``rng``'s own stream is the same whatever ``kin_share`` is.
    """
    if kin_share <= 0.0 or not instrument.kin:
        return instrument.gm_program
    (choice,) = rng.spawn(1)
    if choice.random() >= kin_share:
        return instrument.gm_program
    relative = instrument.kin[int(choice.integers(len(instrument.kin)))]
    return relative.program if relative.plays(*phrase) else instrument.gm_program


def synth_clip(out: Path, split: Split, index: int, seed: int, config: SynthConfig) -> ClipRecord:
    """Make clip ``index`` of ``split`` into ``out`` (which must have ``audio/`` and ``video/``)."""
    from pedalboard.io import AudioFile  # deferred: pedalboard, in the clip-rendering worker

    rng = np.random.default_rng([seed, index])
    instrument = get_instrument(INSTRUMENT_NAMES[index % len(INSTRUMENT_NAMES)])
    try:
        solo = perform_solo(instrument.name, split, rng, config)
    except RuntimeError as error:
        raise RuntimeError(f"clip {index}: {error}") from None
    audio, frames, performance = solo.audio, solo.frames, solo.performance
    voice, picture = solo.voice, solo.picture

    clip_id = f"{split}_{index:06d}"
    audio_rel, video_rel = f"audio/{clip_id}.wav", f"video/{clip_id}.mp4"
    with AudioFile(
        str(out / audio_rel), "w", config.sample_rate, audio.shape[0], bit_depth=16
    ) as f:
        f.write(audio)
    muxed = audio if config.audio_in_video else None
    write_mp4(out / video_rel, frames, config.fps, audio=muxed, sample_rate=config.sample_rate)
    pitches = [note.pitch for note in performance.notes]
    names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    return ClipRecord(
        id=clip_id,
        split=split,
        instrument=instrument.name,
        audio=audio_rel,
        video=video_rel,
        sample_rate=config.sample_rate,
        channels=int(audio.shape[0]),
        duration=config.duration,
        fps=config.fps,
        frames=config.n_frames,
        size=config.size,
        soundfont=voice.name if voice.family == "soundfont" else "",
        family=voice.family,
        sound=voice.name,
        program=solo.program,
        picture=picture.key,
        tempo=round(performance.tempo, 2),
        key=f"{names[performance.tonic]} {performance.mode}",
        articulation=performance.articulation,
        dynamic=performance.dynamic,
        pitch_low=min(pitches),
        pitch_high=max(pitches),
        notes=len(pitches),
        seed=seed,
        index=index,
    )


def _synth_job(args: tuple[Path, Split, int, int, SynthConfig]) -> ClipRecord:
    return synth_clip(*args)


def synthesize_corpus(
    out: str | Path,
    split: Split,
    clips: int,
    seed: int,
    config: SynthConfig | None = None,
    workers: int = 2,
    start: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[ClipRecord]:
    """Write ``clips`` clips (indices ``start .. start+clips-1``) of ``split`` and the index.

    Args:
        out: corpus folder (created). Its index keeps the existing records of clips before
            ``start`` (so a corpus grows in steps, each a run that can be repeated if stopped)
            and gets this run's; records from ``start`` on are replaced.
        split: ``"train"`` or ``"val"`` (which soundfonts and pictures may be used).
        clips: number of clips (>= 1).
        seed: corpus seed; the same seed gives identical files (with the same soundfonts and
            picture packages installed).
        config: clip format (default :class:`SynthConfig`).
        workers: processes to spread the clips over (1 = in this process).
        start: index of the first clip, to extend a corpus without repeating clips.
        progress: called with ``(done, total)`` after each clip.

    Returns:
        The records written to ``index.jsonl``, in index order.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split: expected 'train' or 'val', got {split!r}")
    if clips < 1:
        raise ValueError(f"clips: expected >= 1, got {clips}")
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, got {workers}")
    config = config or SynthConfig()
    find_soundfonts(split)  # fail early with the packages to install
    check_extra_soundfonts(split, config.extra_soundfonts)
    root = Path(out)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "video").mkdir(parents=True, exist_ok=True)
    jobs = [(root, split, i, seed, config) for i in range(start, start + clips)]
    records: list[ClipRecord] = []
    if workers == 1:
        for job in jobs:
            records.append(_synth_job(job))
            if progress:
                progress(len(records), clips)
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for record in pool.imap(_synth_job, jobs, chunksize=2):
                records.append(record)
                if progress:
                    progress(len(records), clips)
    earlier = [r for r in _existing_records(root) if clip_number(r["id"]) < start]
    write_index(root / INDEX_NAME, [*earlier, *(asdict(r) for r in records)])
    return records


def clip_number(clip_id: str) -> int:
    """The index ``i`` of a clip id such as ``"train_000042"``."""
    return int(clip_id.rsplit("_", 1)[-1])


def _existing_records(root: Path) -> list[dict[str, Any]]:
    return read_index(root) if is_corpus_folder(root) else []


def write_index(path: Path, records: list[dict[str, Any]]) -> None:
    """Write ``records`` (:class:`ClipRecord` fields) as JSON lines, one clip per line, through a
    temporary file: a stopped run leaves the previous index whole."""
    lines = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)
    write_text_atomically(path, lines)


def is_corpus_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is a generated corpus (it holds ``index.jsonl``) rather than, say, a
    folder of solo videos."""
    return (Path(folder) / INDEX_NAME).is_file()


def read_index(folder: str | Path) -> list[dict[str, Any]]:
    """The records of a corpus folder's ``index.jsonl``.

    Raises:
        FileNotFoundError: the folder has no index.
        ValueError: a line is not a JSON object (the message names the file and line).
    """
    path = Path(folder) / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(f"corpus: no {INDEX_NAME} in {folder}")
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            records.append(record)
    return records
