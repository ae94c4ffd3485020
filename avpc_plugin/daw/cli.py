"""``avpc daw``: put separated stems into a DAW session or project from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from avpc_plugin.audio.io import AudioFileError
from avpc_plugin.daw.ardour import ArdourSessionError, add_stems_to_session
from avpc_plugin.daw.rpp import RppProjectError, add_tracks_to_rpp, write_rpp_project
from avpc_plugin.daw.stems import (
    StemPlacement,
    place_stem,
    place_stems,
    recorded_position,
    stem_files,
)


@click.group("daw")
def daw_group() -> None:
    """Place stems in DAW sessions (Ardour) and projects (REAPER)."""


@daw_group.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ardour", "rpp"]),
    required=True,
    help="ardour: add tracks to an existing, closed Ardour 7/8 session; "
    "rpp: write a REAPER project (or add tracks to an existing one).",
)
@click.option(
    "--stems",
    "stems_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder of stem files (one track per file, named after the file).",
)
@click.option(
    "--stem",
    "order",
    multiple=True,
    metavar="NAME",
    help="Track order: the stems in the order they were separated (repeat, as the --stem "
    "names of `avpc separate`); files not named follow by name, 'residual' always last.",
)
@click.option(
    "--session",
    type=click.Path(path_type=Path),
    required=True,
    help="Ardour: the .ardour file or session folder. REAPER: the .RPP file.",
)
@click.option(
    "--position",
    type=float,
    default=None,
    help="Where the stems start in the source, in seconds (the start of the separated range). "
    "Default: the position the stems record (`avpc separate` writes it: WAV bext TimeReference, "
    "FLAC/AIFF TIME_REFERENCE tag), or 0 when they record none or disagree.",
)
@click.option(
    "--source",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also add the source recording as the first track, at 0 s, for reference.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="rpp: replace an existing .RPP instead of adding tracks to it.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Put the stems in the tracks an earlier export of them made (ardour: same track names; "
    "rpp: tracks playing the same files) instead of refusing; other stems are added.",
)
def export_command(
    fmt: str,
    stems_dir: Path,
    order: tuple[str, ...],
    session: Path,
    position: float | None,
    source: Path | None,
    overwrite: bool,
    replace: bool,
) -> None:
    """Add every stem in --stems as a new track at --position."""

    try:
        placements: list[StemPlacement] = []
        if source is not None:
            placements.append(place_stem(source, 0.0))
        files = stem_files(stems_dir, order)
        if position is None:
            position, note = recorded_position(files)
            if position is None:
                click.echo(f"{note}: placing them at 0 s (pass --position to choose)", err=True)
                position = 0.0
            else:
                click.echo(note, err=True)
        placements += place_stems(files, position)
        if fmt == "ardour":
            added = add_stems_to_session(
                session, placements, existing="replace" if replace else "refuse"
            )
            for track in added:
                click.echo(
                    f"{track.name}: {track.length} samples at sample {track.position} "
                    f"({len(track.files)} channel file(s)"
                    + (", replaced the track's region)" if track.replaced else ")")
                )
        elif session.exists() and not overwrite:
            add_tracks_to_rpp(session, placements, replace=replace)
            click.echo(f"{session}: wrote {len(placements)} track(s) (backup: {session}-bak)")
        else:
            write_rpp_project(session, placements, overwrite=overwrite)
            click.echo(f"{session}: wrote {len(placements)} track(s)")
    except (
        AudioFileError,
        ArdourSessionError,
        RppProjectError,
        FileNotFoundError,
        NotADirectoryError,
        FileExistsError,
        ValueError,
    ) as err:
        raise click.ClickException(str(err)) from err
