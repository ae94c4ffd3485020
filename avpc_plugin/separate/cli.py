"""``avpc separate``: batch stem separation from the command line.

Every input is separated on its own: a bad input (missing, unreadable, no audio, too short,
outputs already there) is reported with its name and the batch goes on; the exit status is
non-zero if any input failed (130 after Ctrl-C, 143 after SIGTERM). Stems are written atomically,
so a failed or interrupted input leaves no file under a final name. Inputs read after a repair
(truncated, non-finite samples, a video frame held past the footage) are noted below the summary,
or fail with ``--strict``.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click

from avpc_plugin.audio.io import (
    AUDIO_FILE_EXTENSIONS,
    BIT_DEPTHS,
    VIDEO_CONTAINER_EXTENSIONS,
    WRITE_FORMATS,
    AudioWarning,
    BitDepth,
    InputRepairWarning,
    audio_info,
    check_output_format,
    is_video_container,
)
from avpc_plugin.commands import audio_format_options, device_option, model_option, overwrite_option
from avpc_plugin.interrupts import sigterm_raises
from avpc_plugin.presets import load_preset
from avpc_plugin.separate.output import DEFAULT_TEMPLATE, output_paths
from avpc_plugin.separate.progress import progress_bar
from avpc_plugin.separate.query import StemQuery, parse_stem_spec
from avpc_plugin.separate.separator import MIN_SECONDS, RESIDUAL, Separator


@dataclass
class _Outcome:
    input: Path
    ok: bool
    message: str
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``; None passes through.

    Raises:
        click.BadParameter: malformed or out of range.
    """
    if spec is None:
        return None
    try:
        index_text, count_text = spec.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise click.BadParameter(
            f"{spec!r}: expected i/n, e.g. 0/4", param_hint="--shard"
        ) from None
    if count < 1 or not 0 <= index < count:
        raise click.BadParameter(
            f"{spec!r}: expected 0 <= i < n (shards are numbered from 0)", param_hint="--shard"
        )
    return index, count


def expand_inputs(inputs: Sequence[Path]) -> list[Path]:
    """Files to process: each input file, and the audio / video files directly inside each folder
    (not its subfolders), each file once.

    Missing paths are kept (they are reported as failures, in order).
    """
    known = AUDIO_FILE_EXTENSIONS + VIDEO_CONTAINER_EXTENSIONS
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in known)
            )
        else:
            files.append(path)
    seen: set[Path] = set()  # a file named twice (or with its folder) is separated once
    unique = []
    for file in files:
        key = file.resolve() if file.exists() else file
        if key not in seen:
            seen.add(key)
            unique.append(file)
    return unique


@click.command("separate")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--video",
    type=click.Path(path_type=Path),
    default=None,
    help="Footage for the visual queries (default: each input, if it is a video).",
)
@click.option(
    "--stem",
    "stem_specs",
    multiple=True,
    required=True,
    metavar="NAME[=PRESET][@x,y,w,h][+OFFSET]",
    help="A stem to extract; repeat for several. PRESET: a stem preset (`avpc presets list`; "
    "default: plain model output); box in fractions of the frame; offset in seconds (video "
    "time = audio time + offset).",
)
@click.option(
    "-o", "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder."
)
@click.option(
    "--template",
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help="Output path inside the folder; fields {track}, {stem}, {ext}.",
)
@audio_format_options(WRITE_FORMATS, BIT_DEPTHS)
@click.option(
    "--residual",
    is_flag=True,
    help="Also write 'residual': the input minus the stems (a preset's [residual] subtract "
    "rule decides: by default its stem as masked, before the post chain).",
)
@click.option("--normalise", is_flag=True, help="Scale masks so the stems sum to the input.")
@click.option(
    "--no-dither",
    "no_dither",
    is_flag=True,
    help="Round 16/24-bit output to the nearest step instead of adding TPDF dither (the default, "
    "as DAWs bounce: quantisation error becomes a steady noise floor, not distortion).",
)
@model_option()
@device_option
@click.option("--start", type=float, default=None, help="First second to separate.")
@click.option("--end", type=float, default=None, help="Second to stop at.")
@click.option(
    "--shard",
    default=None,
    metavar="i/n",
    help="Process only every n-th input, from the i-th (0-based).",
)
@overwrite_option("existing output files")
@click.option(
    "--batch-segments",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Model windows per forward pass.",
)
@click.option(
    "--video-tolerance",
    type=click.FloatRange(min=0.0),
    default=0.5,
    show_default=True,
    metavar="SECONDS",
    help="Footage shorter than the audio it must show: the video's last frame (before its "
    "start, its first) is held for the rest, so the whole take is separated. Gaps up to "
    "SECONDS are held quietly; a longer gap is held too, with a note saying how many seconds "
    "(with --strict it fails the input).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail an input that is read only after a repair (a file shorter than its header or "
    "container says, non-finite samples, a video frame held beyond --video-tolerance) instead "
    "of going on with a note.",
)
def separate_command(
    inputs: tuple[Path, ...],
    video: Path | None,
    stem_specs: tuple[str, ...],
    out_dir: Path,
    template: str,
    fmt: str,
    bit_depth: BitDepth,
    residual: bool,
    normalise: bool,
    no_dither: bool,
    model: str | None,
    device: str | None,
    start: float | None,
    end: float | None,
    shard: str | None,
    overwrite: bool,
    batch_segments: int,
    video_tolerance: float,
    strict: bool,
) -> None:
    """Separate instrument stems from INPUT files (audio or video) or folders of them (the
    files directly inside, not their subfolders).

    Inputs shorter than 0.1 s are refused. Two inputs that differ only in their extension
    (a.mp4, a.mov) get tracks a and a-mov, with a note. Ctrl-C exits 130, SIGTERM 143, leaving
    no partial file."""
    try:
        check_output_format(fmt, bit_depth)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--bit-depth") from None
    try:
        queries = [parse_stem_spec(spec, video, load_preset) for spec in stem_specs]
        names = Separator._output_names(queries, residual)  # duplicate names
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--stem") from None
    try:
        output_paths(out_dir, template, "track", names, fmt)  # fields, extension, escapes
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--template") from None
    if start is not None and start < 0:
        raise click.BadParameter(f"expected seconds >= 0, got {start:g}", param_hint="--start")
    if start is not None and end is not None and end <= start:
        raise click.BadParameter(
            f"expected a time after --start ({start:g} s), got {end:g} s", param_hint="--end"
        )
    shard_spec = parse_shard(shard)
    if video is not None and not video.is_file():
        raise click.BadParameter(f"{video}: no such video file", param_hint="--video")

    files = expand_inputs(inputs)
    if not files:
        raise click.ClickException("no input files to process")
    if shard_spec is not None:
        total, files = len(files), files[shard_spec[0] :: shard_spec[1]]
        if not files:  # more shards than inputs: this one has nothing to do, which is fine
            click.echo(f"shard {shard}: nothing to do ({total} input(s) in all)")
            return

    outcomes: list[_Outcome] = []
    try:
        with sigterm_raises(lambda number: SystemExit(128 + number)):  # stems unwind, exit 143
            separator = _load_separator(model, device, batch_segments, video_tolerance)
            claimed: dict[Path, Path] = {}
            for path in files:
                outcomes.append(
                    _separate_one(
                        separator,
                        path,
                        queries,
                        out_dir,
                        template,
                        fmt,
                        bit_depth,
                        residual,
                        normalise,
                        start,
                        end,
                        overwrite,
                        claimed,
                        strict,
                        dither=not no_dither,
                    )
                )
    except KeyboardInterrupt:  # Ctrl-C: the input in progress has unwound (no partial file)
        if outcomes:
            _print_summary(outcomes)
        click.echo(
            f"interrupted (Ctrl-C): {len(files) - len(outcomes)} of {len(files)} input(s) not "
            "done; nothing partial was left under a final name",
            err=True,
        )
        sys.exit(130)
    _print_summary(outcomes)
    failed = sum(not outcome.ok for outcome in outcomes)
    if failed:
        raise click.ClickException(f"{failed} of {len(outcomes)} input(s) failed")


def _load_separator(
    model: str | None, device: str | None, batch_segments: int, video_tolerance: float
) -> Separator:
    try:
        return Separator.from_pretrained(
            model,
            device=device,
            batch_segments=batch_segments,
            video_tolerance=video_tolerance,
            min_seconds=MIN_SECONDS,
        )
    except Exception as err:
        raise click.ClickException(f"--model {model or '(default)'}: {_message(err)}") from None


def _message(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return text or type(err).__name__


def _separate_one(
    separator: Separator,
    path: Path,
    queries: list[StemQuery],
    out_dir: Path,
    template: str,
    fmt: str,
    bit_depth: BitDepth,
    residual: bool,
    normalise: bool,
    start: float | None,
    end: float | None,
    overwrite: bool,
    claimed: dict[Path, Path],
    strict: bool = False,
    dither: bool = True,
) -> _Outcome:
    began = time.perf_counter()
    if not path.is_file():
        return _Outcome(path, False, f"{path}: no such file")
    names = [query.name for query in queries] + ([RESIDUAL] if residual else [])
    try:
        track, renamed = _track_name(out_dir, template, path, names, fmt, claimed)
        targets = output_paths(out_dir, template, track, names, fmt)
    except ValueError as err:
        return _Outcome(path, False, str(err))
    notes = [renamed] if renamed else []
    for target in targets.values():
        if target in claimed:
            return _Outcome(
                path,
                False,
                f"{target}: also the output of {claimed[target]} (use {{track}} in --template)",
            )
        if target.exists() and not overwrite:
            return _Outcome(path, False, f"{target}: already exists (pass --overwrite)")
    if any(q.video is None for q in queries) and not is_video_container(path):
        return _Outcome(
            path,
            False,
            f"{path}: not a video ({', '.join(VIDEO_CONTAINER_EXTENSIONS)}), so its stems need "
            "--video for the visual queries",
        )
    claimed.update(dict.fromkeys(targets.values(), path))

    try:
        with progress_bar(path.name) as progress, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AudioWarning)
            if strict:  # a repaired input fails, raised where it is found: nothing is committed
                warnings.simplefilter("error", InputRepairWarning)
            written = separator.separate_to_files(
                path,
                targets,
                stems=queries,
                start=start,
                end=end,
                residual=residual,
                normalise=normalise,
                bit_depth=bit_depth,
                overwrite=overwrite,
                progress=progress,
                dither=dither,
            )
    except KeyboardInterrupt:
        raise
    except InputRepairWarning as err:
        message = f"{_message(err)} (--strict: a repaired input fails)"
        return _Outcome(path, False, message, wall_seconds=time.perf_counter() - began)
    except Exception as err:
        return _Outcome(path, False, _message(err), wall_seconds=time.perf_counter() - began)
    notes += _audio_notes(caught)

    seconds = 0.0
    first = next(iter(written.values()))
    try:
        seconds = audio_info(first).duration
    except Exception:  # only for the summary
        seconds = 0.0
    return _Outcome(
        path,
        True,
        f"{len(written)} stem(s) in {first.parent}" + (f"; {len(notes)} note(s)" if notes else ""),
        seconds,
        time.perf_counter() - began,
        notes,
    )


def _track_name(
    out_dir: Path,
    template: str,
    path: Path,
    names: list[str],
    fmt: str,
    claimed: dict[Path, Path],
) -> tuple[str, str | None]:
    """The track name of an input, and a note if it had to differ from the file's stem: an
    earlier input of the same stem (``a.mp4`` before ``a.mov``) already claimed its outputs, so
    this one takes the extension as a suffix (``a-mov``), then a number (``a-mov-2``)."""
    track = path.stem
    if "{track}" not in template:
        return track, None

    def taken(candidate: str) -> Path | None:
        targets = output_paths(out_dir, template, candidate, names, fmt).values()
        return next((claimed[t] for t in targets if t in claimed), None)

    other = taken(track)
    if other is None:
        return track, None
    suffix = path.suffix.lower().lstrip(".")
    base = f"{track}-{suffix}" if suffix and suffix != other.suffix.lower().lstrip(".") else track
    candidates = [base] if base != track else []
    candidates += [f"{base}-{number}" for number in range(2, 1000)]
    for candidate in candidates:
        if taken(candidate) is None:
            return candidate, (
                f"{path}: its stems would share names with those of {other}, so its track is "
                f"named {candidate!r}"
            )
    raise ValueError(f"{path}: no free track name for its stems")


def _audio_notes(caught: list[warnings.WarningMessage]) -> list[str]:
    """The :class:`AudioWarning` texts among ``caught``; other warnings are shown as usual."""
    notes = []
    for warning in caught:
        if issubclass(warning.category, AudioWarning):
            notes.append(str(warning.message))
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return notes


def _print_summary(outcomes: list[_Outcome]) -> None:
    width = max(len(str(o.input)) for o in outcomes)
    click.echo("")
    click.echo(
        f"{'input':<{width}}  {'status':<6}  {'audio s':>8}  {'wall s':>7}  {'x RT':>6}  detail"
    )
    for o in outcomes:
        speed = (
            f"{o.audio_seconds / o.wall_seconds:6.1f}" if o.ok and o.wall_seconds > 0 else "     -"
        )
        click.echo(
            f"{o.input!s:<{width}}  {'ok' if o.ok else 'FAILED':<6}  {o.audio_seconds:8.1f}  "
            f"{o.wall_seconds:7.1f}  {speed}  {o.message}"
        )
    for o in outcomes:
        for note in o.notes:
            click.echo(f"note: {note}")
