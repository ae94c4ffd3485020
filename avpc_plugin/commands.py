"""Pieces every ``avpc`` command shares: command groups that import a subcommand's module only
when it runs (so ``avpc --help`` and light commands load no torch), and the common options
(``--model``, ``--device``, ``--overwrite``, the output format), declared once.

Only click is imported here; the role packages' ``cli`` modules build on it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

CommandT = TypeVar("CommandT", bound=Callable[..., Any])


@dataclass(frozen=True)
class LazyCommand:
    """Where a subcommand lives: ``module:attribute``, and its one-line help for listings."""

    target: str
    short_help: str

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target}: expected a click command, got {command!r}")
        return command


class LazyGroup(click.Group):
    """A click group whose listed subcommands are imported when run, not when listed.

    Args:
        lazy: subcommand name -> :class:`LazyCommand`.
        kwargs: :class:`click.Group`'s.
    """

    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self.lazy[cmd_name].load(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command table from the stored help lines: listing imports no command module."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(formatter.width)))
            else:
                rows.append((name, self.lazy[name].short_help))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def model_option(required: bool = False) -> Callable[[CommandT], CommandT]:
    """``--model NAME|PATH``: a registered model name or a checkpoint file."""
    default_words = "" if required else " (default: the registry's default model)"
    return click.option(
        "--model",
        default=None,
        required=required,
        metavar="NAME|PATH",
        help=f"Registered model name or checkpoint file{default_words}.",
    )


def device_option(command: CommandT) -> CommandT:
    """``--device``: where the model runs."""
    return click.option(
        "--device",
        default=None,
        metavar="DEVICE",
        help="cpu, cuda or cuda:N (default: CUDA when present, else the CPU).",
    )(command)


def overwrite_option(what: str) -> Callable[[CommandT], CommandT]:
    """``--overwrite``: replace ``what`` (a phrase: "existing output files") if it exists."""
    return click.option("--overwrite", is_flag=True, help=f"Replace {what}.")


def audio_format_options(
    formats: Sequence[str], bit_depths: Sequence[str]
) -> Callable[[CommandT], CommandT]:
    """``--format`` and ``--bit-depth`` of written audio, among ``formats`` and ``bit_depths``
    (those the audio writer takes: :data:`avpc_plugin.audio.io.WRITE_FORMATS`, ...)."""

    def decorate(command: CommandT) -> CommandT:
        command = click.option(
            "--bit-depth",
            type=click.Choice(bit_depths),
            default="24",
            show_default=True,
            help="Sample format of the written stems (32f: 32-bit float, wav only, never clips).",
        )(command)
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(formats),
            default="wav",
            show_default=True,
            help="Audio format of the written stems.",
        )(command)

    return decorate
