"""``avpc nets``: the registered network architectures."""

from __future__ import annotations

import click

from avpc_plugin.nets import build_net, list_nets


@click.group("nets")
def nets_group() -> None:
    """Inspect the registered network architectures."""


@nets_group.command("list")
def nets_list() -> None:
    """List registered networks with their default parameter counts."""
    for name in list_nets():
        try:
            n_params = sum(p.numel() for p in build_net(name).parameters())
            click.echo(f"{name:<16} {n_params:>12,d} parameters (default config)")
        except TypeError:
            click.echo(f"{name:<16} (needs a config)")
