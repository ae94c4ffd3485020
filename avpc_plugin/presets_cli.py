"""``avpc presets``: list, show, validate, create and tune stem presets."""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path

import click

from avpc_plugin.presets import (
    DEFAULT_PRESET,
    PresetError,
    build_post_chain,
    find_preset_file,
    list_presets,
    load_preset,
    load_preset_file,
    preset_search_path,
    user_presets_dir,
)
from avpc_plugin.presets.writer import child_preset_toml, preset_to_toml, write_preset_text


@click.group("presets")
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
        try:
            preset = load_preset_file(path)
            build_post_chain(preset.post, f"{path}: post")
            click.echo(f"ok      {path}")
        except PresetError as err:
            failed += 1
            click.echo(f"INVALID {err}")
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
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
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


@presets_group.command("tune")
@click.argument("name")
@click.option(
    "--set",
    "set_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Benchmark set folder (manifest.jsonl).",
)
@click.option("--model", default=None, help="Registry name or checkpoint file (default model).")
@click.option("--instrument", default=None, help="Instrument to score (default: NAME).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the tuned preset (default: the user preset folder).",
)
@click.option("--as", "out_name", default=None, help="Name of the tuned preset (default: NAME).")
@click.option(
    "--grid",
    "grid_specs",
    multiple=True,
    metavar="KNOB=V1,V2,...",
    help="Values to try for a knob (cycles, threshold, time_ms, freq_hz); repeat per knob. "
    "Default: the built-in grids of all four.",
)
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when present).")
@click.option("--overwrite", is_flag=True, help="Replace an existing tuned preset file.")
def tune_command(
    name: str,
    set_dir: Path,
    model: str | None,
    instrument: str | None,
    out_dir: Path | None,
    out_name: str | None,
    grid_specs: tuple[str, ...],
    rounds: int,
    device: str | None,
    overwrite: bool,
) -> None:
    """Tune NAME's threshold, cycles and smoothing for the best SDR on a benchmark set.

    Tune on a set like the footage you will separate: values tuned on a model's own training
    sounds trust it too much on new ones (docs/benchmarks.md, "Stem presets on the val set")."""
    from avpc_plugin.evaluate.benchmark import read_manifest
    from avpc_plugin.presets.tune import DEFAULT_GRIDS, tune_preset
    from avpc_plugin.separate import Separator

    grids = parse_grids(grid_specs) if grid_specs else DEFAULT_GRIDS
    try:
        start = load_preset(name)
        mixtures = read_manifest(set_dir)
    except ValueError as err:  # PresetError is a ValueError
        raise click.ClickException(str(err)) from None
    folder = out_dir or user_presets_dir()
    target_name = out_name or name
    target = folder / f"{target_name}.toml"
    if target.exists() and not overwrite:
        raise click.ClickException(f"{target}: already exists (pass --overwrite)")
    try:
        separator = Separator.from_pretrained(model, device=device)
    except Exception as err:
        raise click.ClickException(f"--model {model or '(default)'}: {err}") from None
    try:
        result = tune_preset(
            separator, start, mixtures, instrument or name, grids, rounds, progress=click.echo
        )
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    tuned = result.preset
    scores = (
        *tuned.tuned,
        ("model", str(model or "(default)")),
        ("set", str(set_dir.resolve())),
        ("date", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")),
    )
    header = (
        f"tuned from preset {name!r} ({start.source or 'built in'}) by `avpc presets tune`\n"
        f"mean SDR {result.start_sdr:.2f} dB -> {result.best_sdr:.2f} dB over "
        f"{result.sources} source(s)"
    )
    text = preset_to_toml(replace(tuned, name=target_name, tuned=scores), header=header)
    written = write_preset_text(text, folder, target_name, overwrite)
    click.echo(
        f"{name}: SDR {result.start_sdr:.2f} dB -> {result.best_sdr:.2f} dB "
        f"({len(result.tried)} candidates); wrote {written}"
    )


def parse_grids(specs: tuple[str, ...]) -> dict[str, tuple[float, ...]]:
    """``("threshold=0,0.2", ...)`` -> ``{"threshold": (0.0, 0.2), ...}``.

    Raises:
        click.BadParameter: an unknown knob or a value that is not a number.
    """
    from avpc_plugin.presets.tune import DEFAULT_GRIDS

    grids: dict[str, tuple[float, ...]] = {}
    for spec in specs:
        knob, _, values = spec.partition("=")
        if knob not in DEFAULT_GRIDS:
            raise click.BadParameter(
                f"{spec!r}: unknown knob {knob!r} (knobs: {', '.join(DEFAULT_GRIDS)})",
                param_hint="--grid",
            )
        try:
            grids[knob] = tuple(float(v) for v in values.split(","))
        except ValueError:
            raise click.BadParameter(
                f"{spec!r}: expected KNOB=V1,V2,... with numbers", param_hint="--grid"
            ) from None
    return grids
