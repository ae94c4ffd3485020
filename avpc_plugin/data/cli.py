"""``avpc data``: make the synthetic corpus, scenes and benchmark sets, and look at them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import cast

import click
import numpy as np
from tqdm import tqdm

from avpc_plugin.data.bench import build_benchmark
from avpc_plugin.data.cache import build_cache
from avpc_plugin.data.clips import clips_from_corpus, clips_from_music_csv
from avpc_plugin.data.corpus import SynthConfig, synthesize_corpus
from avpc_plugin.data.folder import clips_from_video_folder
from avpc_plugin.data.instruments import INSTRUMENT_NAMES, get_instrument
from avpc_plugin.data.preview import clips_for_preview, write_contact_sheet
from avpc_plugin.data.render import Split, check_extra_soundfonts, find_soundfonts
from avpc_plugin.data.scene import synth_scene


@click.group("data")
def data_group() -> None:
    """Make and inspect audio-visual instrument data."""


@data_group.command("synth")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Corpus folder (created); gets audio/, video/ and index.jsonl.",
)
@click.option(
    "--split",
    type=click.Choice(["train", "val"]),
    required=True,
    help="Which soundfonts and pictures to use (the two share none).",
)
@click.option("--clips", type=click.IntRange(min=1), required=True, help="Number of clips.")
@click.option("--seed", type=int, default=0, show_default=True, help="Corpus seed.")
@click.option(
    "--start",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Index of the first clip (to extend a corpus).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0.5),
    default=6.0,
    show_default=True,
    help="Seconds per clip.",
)
@click.option("--sample-rate", type=click.IntRange(min=8000), default=11025, show_default=True)
@click.option("--stereo/--mono", default=False, show_default=True)
@click.option("--fps", type=click.FloatRange(min=1.0), default=8.0, show_default=True)
@click.option(
    "--size",
    type=click.IntRange(min=32),
    default=256,
    show_default=True,
    help="Video width and height in pixels (even).",
)
@click.option(
    "--audio-in-video/--no-audio-in-video",
    default=False,
    show_default=True,
    help="Also mux the audio into the mp4 files.",
)
@click.option(
    "--soundfont",
    "soundfonts",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    multiple=True,
    help="A soundfont (.sf2/.sf3) to play beside the split's own; repeat for more.",
)
@click.option(
    "--kin-share",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Share of an instrument's clips played by a relative (viola for violin, contrabass "
    "for cello, ...; see avpc_plugin/data/instruments.py) for timbre variety.",
)
@click.option(
    "--family",
    "families",
    type=click.Choice(["soundfont", "stk", "additive"]),
    multiple=True,
    default=("soundfont",),
    show_default=True,
    help="A sound family train clips draw among (repeat: --family soundfont --family stk "
    "--family additive); soundfont is always one. Val clips play their soundfont.",
)
@click.option(
    "--varied-rooms",
    is_flag=True,
    help="Also vary each clip's reverb kind, microphone colour and noise floor.",
)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
def synth(
    out: Path,
    split: str,
    clips: int,
    seed: int,
    start: int,
    duration: float,
    sample_rate: int,
    stereo: bool,
    fps: float,
    size: int,
    audio_in_video: bool,
    soundfonts: tuple[Path, ...],
    kin_share: float,
    families: tuple[str, ...],
    varied_rooms: bool,
    workers: int,
) -> None:
    """Render solo instrument clips (wav + mp4) and their index."""

    try:
        check_extra_soundfonts(cast(Split, split), soundfonts)
    except (ValueError, FileNotFoundError) as error:
        raise click.BadParameter(str(error), param_hint="--soundfont") from None
    try:
        find_soundfonts(cast(Split, split))
    except FileNotFoundError as error:
        raise click.ClickException(f"{error}; `make corpus-deps` installs them") from None
    config = SynthConfig(
        duration=duration,
        sample_rate=sample_rate,
        stereo=stereo,
        fps=fps,
        size=size,
        audio_in_video=audio_in_video,
        extra_soundfonts=soundfonts,
        kin_share=kin_share,
        families=tuple(dict.fromkeys(("soundfont", *families))),
        varied_rooms=varied_rooms,
    )
    try:
        with tqdm(total=clips, unit="clip", disable=None) as bar:
            records = synthesize_corpus(
                out,
                cast(Split, split),
                clips,
                seed,
                config,
                workers=workers,
                start=start,
                progress=lambda done, total: bar.update(1),
            )
    except FileNotFoundError as error:  # a sound or picture package the corpus needs
        raise click.ClickException(f"{error}; `make corpus-deps` installs what it needs") from None
    click.echo(f"wrote {clips} {split} clips to {out}")
    sounds = Counter(record.family for record in records)
    click.echo("sound families: " + ", ".join(f"{n} {k}" for n, k in sorted(sounds.items())))
    fonts = Counter(record.soundfont for record in records if record.soundfont)
    click.echo("soundfonts: " + ", ".join(f"{name} {n}" for name, n in sorted(fonts.items())))
    kinds = Counter(record.picture.split(":", 1)[0] for record in records)
    click.echo("pictures: " + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())))
    if kin_share > 0:
        kin = sum(get_instrument(r.instrument).gm_program != r.program for r in records)
        click.echo(f"played by a relative: {kin} of {clips} clips")


@data_group.command("bench")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Benchmark folder (manifest.jsonl, mixes/, src/, vid/).",
)
@click.option(
    "--corpus",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A corpus to draw from; default: make one of --split in OUT/corpus.",
)
@click.option(
    "--split",
    type=click.Choice(["val", "train"]),
    default="val",
    show_default=True,
    help="Sounds and looks of the clips made when no --corpus is given: val (never seen in "
    "training) or train (seen in training; new performances, as long as --seed differs from "
    "the training corpus's).",
)
@click.option(
    "--pairs", type=click.IntRange(min=0), default=20, show_default=True, help="2-source mixtures."
)
@click.option(
    "--triples",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="3-source mixtures.",
)
@click.option(
    "--clips",
    type=click.IntRange(min=11),
    default=44,
    show_default=True,
    help="Clips to make when no --corpus is given.",
)
@click.option("--seed", type=int, default=1234, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
def bench(
    out: Path,
    corpus: Path | None,
    split: str,
    pairs: int,
    triples: int,
    clips: int,
    seed: int,
    workers: int,
) -> None:
    """Build a fixed benchmark set of 2- and 3-source mixtures, by default of val-split clips
    (sounds and pictures never used in training)."""

    if corpus is None:
        corpus = out / "corpus"
        synthesize_corpus(corpus, cast(Split, split), clips, seed, workers=workers)
    manifest = build_benchmark(corpus, out, {2: pairs, 3: triples}, seed=seed)
    click.echo(f"wrote {len(manifest)} mixtures to {out / 'manifest.jsonl'}")


@data_group.command("cache")
@click.option(
    "--corpus",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A synthetic corpus folder (index.jsonl).",
)
@click.option(
    "--music-csv",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A MUSIC-layout CSV index (audio_dir,frames_dir,chunks,frames).",
)
@click.option(
    "--videos",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A folder of solo videos (mp4/mov/mkv), in folders named after their instrument.",
)
@click.option(
    "--index",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="With --videos: a CSV (path,instrument) / JSON / JSONL index naming the instruments.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Cache folder (meta.json, audio.f32, frames.u8); an old cache there is replaced.",
)
@click.option("--fps", type=click.FloatRange(min=0.1), default=8.0, show_default=True)
@click.option(
    "--image-size",
    type=click.IntRange(min=16),
    default=224,
    show_default=True,
    help="Model frame side; frames are stored at int(1.1 x) this for the random crop.",
)
def cache(
    corpus: Path | None,
    music_csv: Path | None,
    videos: Path | None,
    index: Path | None,
    out: Path,
    fps: float,
    image_size: int,
) -> None:
    """Decode solo clips once into memory-mapped arrays for fast training."""

    if sum(s is not None for s in (corpus, music_csv, videos)) != 1:
        raise click.UsageError("give exactly one of --corpus, --music-csv, --videos")
    if index is not None and videos is None:
        raise click.UsageError("--index goes with --videos")
    try:
        if corpus is not None:
            clips = clips_from_corpus(corpus)
        elif music_csv is not None:
            clips = clips_from_music_csv(music_csv)
        else:
            assert videos is not None
            clips = clips_from_video_folder(videos, index)
        built = build_cache(clips, out, fps=fps, image_size=image_size)
    except (ValueError, OSError) as err:  # a bad index or folder: its message names it
        raise click.ClickException(str(err)) from None
    click.echo(f"cached {len(built)} clips in {out}")


@data_group.command("scene")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Scene folder: scene.mp4, mix.wav, solo_<k>.wav, scene.json.",
)
@click.option(
    "--performers",
    type=click.IntRange(2, 4),
    default=2,
    show_default=True,
    help="Number of performers (distinct instruments drawn from the seed) without --instrument.",
)
@click.option(
    "--instrument",
    "instruments",
    multiple=True,
    help="Instrument of each performer, left to right (repeat the option 2-4 times).",
)
@click.option("--duration", type=click.FloatRange(min=0.5), default=20.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--sample-rate", type=click.IntRange(min=8000), default=44100, show_default=True)
@click.option("--stereo/--mono", default=True, show_default=True)
@click.option(
    "--split",
    type=click.Choice(["train", "val"]),
    default="val",
    show_default=True,
    help="Whose soundfonts and pictures to use.",
)
@click.option("--panel-size", type=click.IntRange(min=32), default=320, show_default=True)
@click.option("--fps", type=click.FloatRange(min=1.0), default=25.0, show_default=True)
def scene(
    out: Path,
    performers: int,
    instruments: tuple[str, ...],
    duration: float,
    seed: int,
    sample_rate: int,
    stereo: bool,
    split: str,
    panel_size: int,
    fps: float,
) -> None:
    """Render 2-4 performers side by side with their mix, solos and boxes."""

    if instruments and not 2 <= len(instruments) <= 4:
        raise click.BadParameter(
            f"give 2 to 4 instruments, got {len(instruments)}", param_hint="--instrument"
        )
    unknown = [name for name in instruments if name not in INSTRUMENT_NAMES]
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(unknown)}; expected one of {', '.join(INSTRUMENT_NAMES)}",
            param_hint="--instrument",
        )
    if not instruments:
        rng = np.random.default_rng(seed)
        instruments = tuple(rng.choice(INSTRUMENT_NAMES, size=performers, replace=False))
    record = synth_scene(
        out,
        [str(name) for name in instruments],
        duration,
        seed,
        sample_rate=sample_rate,
        stereo=stereo,
        split=cast(Split, split),
        panel_size=panel_size,
        fps=fps,
    )
    click.echo(f"wrote a {duration:g} s scene of {', '.join(record.instruments)} to {out}")


@data_group.command("preview")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("sheet.png"),
    show_default=True,
    help="PNG file to write.",
)
@click.option("--frames", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--clips", type=click.IntRange(min=1), default=12, show_default=True, help="Rows at most."
)
def preview(folder: Path, out: Path, frames: int, clips: int) -> None:
    """Contact sheet of a corpus, cache or video folder: frames and spectrogram per clip."""

    width, height = write_contact_sheet(clips_for_preview(folder), out, frames, clips)
    click.echo(f"wrote {out} ({width} x {height} px)")
