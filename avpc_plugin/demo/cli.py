"""``avpc demo``: the command."""

from __future__ import annotations

from pathlib import Path

import click

from avpc_plugin.commands import device_option, model_option, overwrite_option
from avpc_plugin.demo.report import summary_lines
from avpc_plugin.demo.result import DEFAULT_INSTRUMENTS, DemoError
from avpc_plugin.demo.run import parse_instruments, run_demo
from avpc_plugin.separate.progress import progress_bar


@click.command("demo")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Output folder.",
)
@model_option()
@click.option(
    "--duration",
    type=click.FloatRange(min=1.0),
    default=20.0,
    show_default=True,
    help="Seconds of the synthetic clip.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Fixes the clip.")
@click.option(
    "--instruments",
    default=",".join(DEFAULT_INSTRUMENTS),
    show_default=True,
    help="2-4 comma-separated instrument classes, left to right.",
)
@device_option
@click.option(
    "--normalise/--no-normalise",
    default=True,
    show_default=True,
    help="Share every time-frequency bin among the performers' stems (they name every "
    "instrument that plays), as `avpc separate --normalise`.",
)
@click.option(
    "--presets",
    is_flag=True,
    help="Shape each stem with its instrument's preset (for listening; scores a little lower) "
    "instead of the model's plain soft mask.",
)
@overwrite_option("the files of an existing output folder")
def demo_command(
    out: Path,
    model: str | None,
    duration: float,
    seed: int,
    instruments: str,
    device: str | None,
    normalise: bool,
    presets: bool,
    overwrite: bool,
) -> None:
    """Separate a synthetic concert clip with a trained model and report how well it did.

    Writes OUT/scene/ (clip and true solos), OUT/stems/*.wav (one stem per performer and the
    residual), OUT/spectrograms.png and OUT/report.md.
    """
    try:
        names = parse_instruments(instruments)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--instruments") from None
    try:
        result = run_demo(
            out,
            model=model,
            duration=duration,
            seed=seed,
            instruments=names,
            device=device,
            normalise=normalise,
            presets=presets,
            overwrite=overwrite,
            echo=click.echo,
            progress=progress_bar,
        )
    except DemoError as err:
        raise click.ClickException(str(err)) from None
    except (OSError, ValueError, RuntimeError) as err:
        raise click.ClickException(f"{type(err).__name__}: {err}") from None
    for line in summary_lines(result):
        click.echo(line)
