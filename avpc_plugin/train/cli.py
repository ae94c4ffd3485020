"""``avpc train CONFIG.toml [--resume] [--device]`` (click)."""

from __future__ import annotations

from pathlib import Path

import click

from avpc_plugin.checkpoints.files import CheckpointError
from avpc_plugin.commands import device_option
from avpc_plugin.interrupts import sigterm_raises
from avpc_plugin.train.config import ConfigError, load_config
from avpc_plugin.train.data import build_datasets
from avpc_plugin.train.distributed import init_distributed, shutdown_distributed
from avpc_plugin.train.trainer import Trainer, TrainingError


@click.command("train")
@click.argument("config_file", type=click.Path(path_type=Path))
@click.option("--resume", is_flag=True, help="Go on from the run folder's last epoch checkpoint.")
@device_option
@click.option("--no-progress", is_flag=True, help="No progress bar (e.g. in batch-job logs).")
def train_command(config_file: Path, resume: bool, device: str | None, no_progress: bool) -> None:
    """Train a model from a TOML config (see configs/). Runs under torchrun as well:
    torchrun --nproc_per_node 8 -m avpc_plugin.cli train CONFIG.toml"""

    try:
        config = load_config(config_file)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    try:
        ctx = init_distributed(device)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--device") from None
    finished = False
    # a cluster's time limit (SIGTERM) stops the run as Ctrl-C does
    with sigterm_raises(lambda number: KeyboardInterrupt()):
        try:
            train_set, val_set = build_datasets(config, ctx)
            trainer = Trainer(config, train_set, val_set, ctx, progress=not no_progress)
            state = trainer.fit(resume=resume)
            finished = True
        except (ConfigError, TrainingError, CheckpointError) as err:
            raise click.ClickException(str(err)) from None
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the epoch checkpoints are intact
            if ctx.is_main:
                click.echo(
                    f"\nstopped; go on from the last epoch checkpoint with: avpc train "
                    f"{config_file} --resume",
                    err=True,
                )
            raise SystemExit(130) from None
        finally:
            shutdown_distributed(wait_for_peers=finished)  # a failed peer never reaches a barrier
    if ctx.is_main:
        best = config.out_dir / state.best if state.best else None
        click.echo(
            f"trained {state.epoch} epochs ({state.step} steps) into {config.out_dir}; best model: "
            f"{best if best else 'none (no valid validation score)'}"
        )
