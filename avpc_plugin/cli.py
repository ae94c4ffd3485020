"""The ``avpc`` command line (click): the root group, which gathers each role's commands."""

from __future__ import annotations

import click

from avpc_plugin import __version__
from avpc_plugin.checkpoints.cli import models
from avpc_plugin.data.cli import data_group
from avpc_plugin.daw.cli import daw_group
from avpc_plugin.demo import demo_command
from avpc_plugin.engine.cli import engine_command
from avpc_plugin.evaluate.cli import evaluate_command, tune_command
from avpc_plugin.presets.cli import presets_group
from avpc_plugin.separate.cli import separate_command
from avpc_plugin.train.cli import train_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="avpc")
def main() -> None:
    """avpc: pull instrument stems out of concert footage with Audio-Visual Predictive Coding."""


@main.group()
def nets() -> None:
    """Inspect the registered network architectures."""


@nets.command("list")
def nets_list() -> None:
    """List registered networks with their default parameter counts."""
    from avpc_plugin.nets import build_net, list_nets

    for name in list_nets():
        try:
            n_params = sum(p.numel() for p in build_net(name).parameters())
            click.echo(f"{name:<16} {n_params:>12,d} parameters (default config)")
        except TypeError:
            click.echo(f"{name:<16} (needs a config)")


main.add_command(models, "models")
main.add_command(data_group, "data")
main.add_command(daw_group, "daw")
main.add_command(demo_command, "demo")
main.add_command(engine_command, "engine")
presets_group.add_command(tune_command, "tune")
main.add_command(presets_group, "presets")
main.add_command(train_command, "train")
main.add_command(evaluate_command, "evaluate")
main.add_command(separate_command, "separate")


if __name__ == "__main__":
    main()
