"""The ``avpc`` command line (click): the root group, which gathers each role's commands.

Each role's commands live in its package's ``cli`` module and are imported only when run, so
``avpc --help`` lists them without loading torch.
"""

from __future__ import annotations

import click

from avpc_plugin import __version__
from avpc_plugin.commands import LazyCommand, LazyGroup

COMMANDS: dict[str, LazyCommand] = {
    "data": LazyCommand(
        "avpc_plugin.data.cli:data_group", "Make and inspect audio-visual instrument data."
    ),
    "daw": LazyCommand(
        "avpc_plugin.daw.cli:daw_group",
        "Place stems in DAW sessions (Ardour) and projects (REAPER).",
    ),
    "demo": LazyCommand(
        "avpc_plugin.demo.cli:demo_command",
        "Separate a synthetic concert clip with a trained model and report how well it went.",
    ),
    "engine": LazyCommand(
        "avpc_plugin.engine.cli:engine_command",
        "Serve separation jobs over OSC with one warm model (see bridge/PROTOCOL.md).",
    ),
    "evaluate": LazyCommand(
        "avpc_plugin.evaluate.cli:evaluate_command",
        "Score a model on a benchmark set: SDR / SIR / SAR / NSDR.",
    ),
    "models": LazyCommand(
        "avpc_plugin.checkpoints.cli:models",
        "List, inspect, verify and convert model checkpoints (the model registry).",
    ),
    "nets": LazyCommand(
        "avpc_plugin.nets.cli:nets_group", "Inspect the registered network architectures."
    ),
    "presets": LazyCommand(
        "avpc_plugin.presets.cli:presets_group",
        "Per-instrument stem presets (mask, smoothing, band limits, post chain).",
    ),
    "separate": LazyCommand(
        "avpc_plugin.separate.cli:separate_command",
        "Separate instrument stems from audio or video files, or folders of them.",
    ),
    "train": LazyCommand(
        "avpc_plugin.train.cli:train_command", "Train a model from a TOML config (see configs/)."
    ),
}
"""The root's subcommands: where each lives, and its line in ``avpc --help``."""


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="avpc")
def main() -> None:
    """avpc: pull instrument stems out of concert footage with Audio-Visual Predictive Coding."""


if __name__ == "__main__":
    main()
