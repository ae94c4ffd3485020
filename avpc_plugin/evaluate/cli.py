"""``avpc evaluate --set DIR --model NAME|PATH``: BSS Eval of a model on a benchmark set; and
``avpc presets tune``, which evaluates a preset's candidates on one."""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path

import click

from avpc_plugin.checkpoints.files import CheckpointError
from avpc_plugin.checkpoints.registry import RegistryError
from avpc_plugin.commands import device_option, model_option, overwrite_option
from avpc_plugin.evaluate.benchmark import (
    BenchmarkError,
    default_score_workers,
    evaluate_benchmark,
    instrument_presets,
    read_manifest,
    separator_function,
)
from avpc_plugin.evaluate.report import format_table, write_reports
from avpc_plugin.evaluate.tune import DEFAULT_GRIDS, MIN_TUNE_SOURCES, tune_preset
from avpc_plugin.presets import (
    load_preset,
    preset_search_path,
    shipped_presets_dir,
    user_presets_dir,
)
from avpc_plugin.presets.writer import preset_to_toml, write_preset_text
from avpc_plugin.separate import Separator
from avpc_plugin.stem_settings import reference_preset

DEFAULT_THRESHOLD = 0.5
"""The reference evaluation's binary mask level."""


@click.command("evaluate")
@click.option(
    "--set", "set_dir", required=True, type=click.Path(path_type=Path),
    help="Benchmark folder with manifest.jsonl (see avpc data bench).",
)  # fmt: skip
@model_option(required=True)
@click.option(
    "--cycles", type=click.IntRange(min=0), default=None,
    help="PCNet test-time cycles (default: the trained number).",
)  # fmt: skip
@click.option(
    "--threshold", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=DEFAULT_THRESHOLD, show_default=True,
    help="Binarise mask probabilities at this value (as the reference).",
)  # fmt: skip
@click.option("--soft", is_flag=True, help="Keep soft masks (ignore --threshold).")
@click.option(
    "--normalise", is_flag=True,
    help="Share each time-frequency bin among the mixture's sources, so the estimates sum to the "
    "mix (avpc separate --normalise); default: each mask alone, as the reference.",
)  # fmt: skip
@click.option(
    "--presets", "use_presets", is_flag=True,
    help="Query every source with the stem preset named after its instrument (as avpc separate "
    "--stem violin=violin): the presets' masks, smoothing, bands and post chains replace "
    "--threshold and --soft (not allowed with it); default: no presets, as the reference.",
)  # fmt: skip
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("."), show_default=True,
    help="Folder for the JSON and Markdown reports.",
)  # fmt: skip
@device_option
@click.option(
    "--workers", type=click.IntRange(min=0), default=None,
    help="Processes scoring BSS Eval while the model separates; 0 scores in this process "
    "(default: one fewer than the CPU cores, at most 8).",
)  # fmt: skip
def evaluate_command(
    set_dir: Path, model: str, cycles: int | None, threshold: float, soft: bool, normalise: bool,
    use_presets: bool, out_dir: Path, device: str | None, workers: int | None,
) -> None:  # fmt: skip
    """Score a model on a benchmark set: SDR / SIR / SAR / NSDR per instrument and overall, next
    to the mixture and the ideal binary / ratio masks. Prints a table and writes
    eval-<set>-<model>[-<options>].json and .md."""
    explicit = click.get_current_context().get_parameter_source("threshold")
    if use_presets and (soft or explicit is not click.core.ParameterSource.DEFAULT):
        raise click.UsageError(
            "--presets takes every mask setting from the presets: drop --soft and --threshold "
            "(or drop --presets to score the model's own masks)"
        )
    try:
        mixtures = read_manifest(set_dir)
        presets = instrument_presets(mixtures) if use_presets else None
    except BenchmarkError as err:
        raise click.ClickException(str(err)) from None
    try:
        separator = Separator.from_pretrained(
            model, device=device, default_preset=None if soft else reference_preset(threshold)
        )
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--device") from None
    except (KeyError, FileNotFoundError, CheckpointError, RegistryError) as err:
        raise click.BadParameter(str(err), param_hint="--model") from None

    with click.progressbar(length=len(mixtures), label="separating", file=None) as bar:
        result = evaluate_benchmark(
            mixtures,
            separator_function(separator, cycles, normalise, presets),
            progress=lambda done, _: bar.update(1),
            workers=default_score_workers() if workers is None else workers,
        )
    result.info = {
        "set": str(set_dir), "model": model, "mixtures": len(mixtures),
        "cycles": cycles if cycles is not None else "trained",
        "masks": masks_label(threshold, soft, normalise, use_presets),
        "rate_hz": 11025, "metric": "mir_eval.separation.bss_eval_sources (v3)",
    }  # fmt: skip
    options = report_suffix(cycles, threshold, soft, normalise, use_presets)
    stem = f"eval-{set_dir.resolve().name}-{Path(model).stem}{options}"
    json_path, markdown_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    write_reports(result, json_path, markdown_path)
    click.echo(format_table(result))
    click.echo(f"wrote {json_path} and {markdown_path}")


def mask_mode(threshold: float, soft: bool, presets: bool) -> tuple[str, str]:
    """How the estimates were masked: the report's words and the report names' tag (empty for
    the reference's binary masks at 0.5)."""
    if presets:
        return "each source's instrument preset", "presets"
    if soft:
        return "soft", "soft"
    tag = "" if threshold == DEFAULT_THRESHOLD else f"threshold{threshold:g}"
    return f"binary > {threshold}", tag


def masks_label(threshold: float, soft: bool, normalise: bool, presets: bool) -> str:
    """How the estimates were masked, for the report's ``masks`` line."""
    label, _ = mask_mode(threshold, soft, presets)
    return label + (", normalised across the sources" if normalise else "")


def report_suffix(
    cycles: int | None, threshold: float, soft: bool, normalise: bool, presets: bool
) -> str:
    """The report names' tail for options other than the reference's, so that runs of one model
    with other options write beside each other (``-cycles3-soft``), not over each other."""
    _, tag = mask_mode(threshold, soft, presets)
    parts = [
        f"cycles{cycles}" if cycles is not None else "",
        tag,
        "normalised" if normalise else "",
    ]
    return "".join(f"-{part}" for part in parts if part)


@click.command("tune")
@click.argument("name")
@click.option(
    "--set",
    "set_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Benchmark set folder (manifest.jsonl).",
)
@model_option()
@click.option("--instrument", default=None, help="Instrument to score (default: NAME).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the tuned preset (default: the user preset folder).",
)
@click.option(
    "--as",
    "out_name",
    default=None,
    help="Name of the tuned preset (default: NAME; required for a shipped preset written onto "
    "the search path, where NAME would hide the shipped one: --as NAME does that on purpose).",
)
@click.option(
    "--grid",
    "grid_specs",
    multiple=True,
    metavar="KNOB=V1,V2,...",
    help="Values to try for a knob (cycles, threshold, time_ms, freq_hz); repeat per knob. "
    "Default: the built-in grids of all four.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Passes over the knobs, each knob tuned in turn with the others held (more rounds: "
    "more candidates scored).",
)
@device_option
@overwrite_option("an existing tuned preset file")
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
    sounds trust it too much on new ones (docs/benchmarks.md, "Stem presets on the val set"),
    and on at least 8 sources of the instrument (fewer: a warning)."""
    grids = parse_grids(grid_specs) if grid_specs else DEFAULT_GRIDS
    try:
        start = load_preset(name)
        mixtures = read_manifest(set_dir)
    except ValueError as err:  # PresetError is a ValueError
        raise click.ClickException(str(err)) from None
    folder = out_dir or user_presets_dir()
    target_name = out_name or name
    target = folder / f"{target_name}.toml"
    shipped = shipped_presets_dir() / f"{name}.toml"
    on_path = any(folder.resolve() == f.resolve() for f in preset_search_path())
    if (
        out_name is None
        and shipped.is_file()
        and on_path
        and folder.resolve() != shipped.parent.resolve()
    ):
        raise click.ClickException(
            f"{name!r} is a shipped preset: writing {target} would hide it (every stem that "
            f"names {name!r} would get the tuned values). Pass --as {name}-tuned to keep both, "
            f"or --as {name} to replace it on purpose"
        )
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
    what = instrument or name
    few = result.sources < MIN_TUNE_SOURCES
    if few:
        click.echo(
            f"warning: tuned on only {result.sources} {what} source(s); below "
            f"{MIN_TUNE_SOURCES} the gain may not hold on other footage (tune on a larger set)",
            err=True,
        )
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    description = (
        f"{name} tuned by avpc presets tune on {set_dir.resolve()} ({result.sources} {what} "
        f"source(s){', few: the gain may not hold' if few else ''}), {date}: mean SDR "
        f"{result.start_sdr:.2f} -> {result.best_sdr:.2f} dB"
    )
    scores = (
        *tuned.tuned,
        ("model", str(model or "(default)")),
        ("set", str(set_dir.resolve())),
        ("date", date),
    )
    header = (
        f"tuned from preset {name!r} ({start.source or 'built in'}) by `avpc presets tune`\n"
        f"mean SDR {result.start_sdr:.2f} dB -> {result.best_sdr:.2f} dB over "
        f"{result.sources} source(s)"
    )
    text = preset_to_toml(
        replace(tuned, name=target_name, tuned=scores, description=description), header=header
    )
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
