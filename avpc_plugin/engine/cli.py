"""``avpc engine``: the OSC engine in the foreground until SIGINT, SIGTERM or a shutdown request."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from avpc_plugin.checkpoints.registry import default_model
from avpc_plugin.commands import device_option, model_option
from avpc_plugin.device import resolve_device
from avpc_plugin.engine.logsetup import default_log_file, setup_logging
from avpc_plugin.engine.server import (
    BindError,
    Engine,
    EngineConfig,
    check_bind_host,
    check_port_free,
)
from avpc_plugin.separate.separator import Separator

SIGNAL_POLL_S = 0.1
"""Seconds between the main thread's checks for a caught SIGINT / SIGTERM."""

READY_PREFIX = "avpc engine ready:"
"""The engine prints ``READY_PREFIX udp=HOST:PORT [tcp=HOST:PORT]`` on stdout once it serves."""


@click.command("engine")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9000,
    show_default=True,
    help="UDP (and TCP) port; 0 picks a free one (printed in the ready line).",
)
@click.option("--tcp", is_flag=True, help="Also accept OSC over TCP on the same port.")
@model_option()
@device_option
@click.option(
    "--batch-segments",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Model windows per forward pass (smaller: cancel answers sooner).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other machines can reach (they can then read and write files here).",
)
@click.option(
    "--output-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Refuse jobs whose output folder is not inside this folder.",
)
@click.option(
    "--max-queued", type=click.IntRange(min=1), default=64, show_default=True, help="Waiting jobs."
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Log file (default: {default_log_file()}).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def engine_command(
    host: str,
    port: int,
    tcp: bool,
    model: str | None,
    device: str | None,
    batch_segments: int,
    allow_remote: bool,
    output_root: Path | None,
    max_queued: int,
    log_file: Path | None,
    verbose: bool,
) -> None:
    """Serve separation jobs over OSC with one warm model (see bridge/PROTOCOL.md)."""
    try:
        check_bind_host(host, allow_remote)
    except BindError as err:
        raise click.BadParameter(str(err), param_hint="--host") from None
    try:
        resolve_device(device)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    try:
        check_port_free(host, port, tcp)  # before the model loads: a taken port fails at once
    except BindError as err:
        raise click.ClickException(str(err)) from None
    log_path = log_file or default_log_file()
    try:
        log = setup_logging(log_path, logging.DEBUG if verbose else logging.INFO)
    except OSError as err:
        raise click.BadParameter(
            f"{log_path}: {err.strerror or err}", param_hint="--log-file"
        ) from None
    separator, model_name = _load_separator(model, device, batch_segments)
    config = EngineConfig(
        host=host,
        port=port,
        tcp=tcp,
        allow_remote=allow_remote,
        output_root=output_root.resolve() if output_root else None,
        max_queued=max_queued,
    )
    engine = Engine(separator, model_name, config)
    try:
        engine.start()
    except BindError as err:
        raise click.ClickException(str(err)) from None

    received: list[int] = []

    def on_signal(number: int, frame: FrameType | None) -> None:
        # Only note the signal: a handler runs between two bytecodes of the main thread, which
        # may be holding the very lock that Event.set() or a log call would take (a deadlock
        # that left the engine hung after SIGTERM). The loop below acts on it.
        received.append(number)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    click.echo(f"{READY_PREFIX} {engine.endpoint_text()} log={log_path}")
    sys.stdout.flush()
    while not received and not engine.wait(SIGNAL_POLL_S):
        pass
    if received:
        log.info("signal %s: shutting down", signal.Signals(received[0]).name)
    engine.close()


def _load_separator(
    model: str | None, device: str | None, batch_segments: int
) -> tuple[Separator, str]:
    try:
        separator = Separator.from_pretrained(model, device=device, batch_segments=batch_segments)
    except Exception as err:  # LookupError, KeyError, FileNotFoundError, CheckpointError, ...
        text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        raise click.ClickException(f"--model {model or '(default)'}: {text}") from None
    if model is None:
        entry = default_model()
        name = entry.name if entry else "(default)"
    else:
        name = Path(model).stem if Path(model).is_file() else model
    return separator, name
