"""``avpc presets``: list, show, validate and create stem presets (``avpc presets tune``, an
evaluation, is :func:`avpc_plugin.evaluate.cli.tune_command`)."""

from __future__ import annotations

from pathlib import Path

import click

from avpc_plugin.commands import LazyCommand, LazyGroup, overwrite_option
from avpc_plugin.presets import (
    DEFAULT_PRESET,
    PRESETS_PATH_ENV,
    PresetError,
    find_preset_file,
    list_presets,
    load_preset,
    load_preset_file,
    preset_search_path,
    user_presets_dir,
)
from avpc_plugin.presets.loader import preset_file_errors
from avpc_plugin.presets.writer import child_preset_toml, preset_to_toml, write_preset_text
from avpc_plugin.stem_settings import build_post_chain


@click.group(
    "presets",
    cls=LazyGroup,
    lazy={
        "tune": LazyCommand(
            "avpc_plugin.evaluate.cli:tune_command",
            "Tune a preset's threshold, cycles and smoothing on a benchmark set.",
        )
    },
)
def presets_group() -> None:
    """Per-instrument stem presets (mask, smoothing, band limits, post chain)."""


@presets_group.command("list")
def list_command() -> None:
    """List the presets on the search path, with where each comes from."""
    click.echo("search path: " + ", ".join(str(p) for p in preset_search_path()))
    for name in list_presets():
        try:
            preset = load_preset(name)
            where = str(preset.source) if preset.source else "(built in)"
            click.echo(f"{name:<18} {preset.description}  [{where}]")
        except PresetError as err:
            click.echo(f"{name:<18} INVALID: {err}")


@presets_group.command("show")
@click.argument("name")
def show_command(name: str) -> None:
    """Print preset NAME with every setting resolved (inheritance applied)."""
    try:
        preset = load_preset(name)
    except PresetError as err:
        raise click.ClickException(str(err)) from None
    header = f"preset {name!r}, resolved from {preset.source or '(built-in defaults)'}" + (
        f"\ninherits {preset.inherits!r}" if preset.inherits else ""
    )
    click.echo(preset_to_toml(preset, header=header), nl=False)


@presets_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_command(files: tuple[Path, ...]) -> None:
    """Check preset FILES (keys, types, ranges, effects, inheritance, plug-ins load)."""
    failed = 0
    for path in files:
        errors = preset_file_errors(path)
        if not errors:
            try:
                build_post_chain(load_preset_file(path).post, f"{path}: post")
            except PresetError as err:
                errors.append(str(err))
        if errors:
            failed += 1
            for error in errors:  # every error of the file, not only the first
                click.echo(f"INVALID {error}")
        else:
            click.echo(f"ok      {path}")
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} preset file(s) invalid")


@presets_group.command("new")
@click.argument("name")
@click.option("--from", "parent", default=DEFAULT_PRESET, show_default=True, help="Parent preset.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to write NAME.toml in (default: the user preset folder).",
)
@overwrite_option("an existing file")
def new_command(name: str, parent: str, out_dir: Path | None, overwrite: bool) -> None:
    """Create preset NAME inheriting --from, its parent's settings as comments to edit."""
    try:
        source = load_preset(parent)
        folder = out_dir or user_presets_dir()
        if (folder / f"{name}.toml").resolve() == (find_preset_file(parent) or Path()).resolve():
            raise click.ClickException(f"{name}: would overwrite its own parent {parent!r}")
        target = write_preset_text(child_preset_toml(name, source), folder, name, overwrite)
        load_preset_file(target)  # what we wrote must load
    except (PresetError, FileExistsError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"wrote {target}")
    if not any(target.parent.resolve() == folder.resolve() for folder in preset_search_path()):
        click.echo(
            f"note: {target.parent} is not on the preset search path, so {name!r} is not found "
            f"by name: add the folder to ${PRESETS_PATH_ENV} (or leave out --out to write to "
            f"{user_presets_dir()})"
        )
