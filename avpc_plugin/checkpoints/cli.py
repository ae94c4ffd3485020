"""``avpc models``: list, inspect, verify and convert model checkpoints (the model registry).

Listing and verifying registered models read only the indexes and the files' bytes, so they load
no torch; the commands that read a checkpoint's contents import it when they run.
"""

from __future__ import annotations

import functools
import io
import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from avpc_plugin.atomic import write_bytes_atomically
from avpc_plugin.checkpoints.files import (
    CheckpointError,
    check_file_hash,
    hash_in_file_name,
    sha256_file,
    validate_name,
)
from avpc_plugin.checkpoints.registry import (
    ModelEntry,
    RegistryError,
    RegistryWarning,
    index_search_path,
    list_models,
    lookup_model,
    register_model,
    verify_model,
)
from avpc_plugin.commands import overwrite_option

if TYPE_CHECKING:
    from avpc_plugin.checkpoints.format import CheckpointMetadata

CommandT = TypeVar("CommandT", bound=Callable[..., Any])


@click.group()
def models() -> None:
    """List, inspect, verify and convert model checkpoints (the model registry).

    Models are found through the index.json files in $AVPC_MODELS_PATH, the user data folder
    (~/.local/share/avpc/models) and the project's models/ folder, in that order.
    """


def _user_errors(command: CommandT) -> CommandT:
    """Report checkpoint / registry errors as one line and exit status 1 (no traceback)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:

        try:
            return command(*args, **kwargs)
        except (CheckpointError, RegistryError) as err:
            raise click.ClickException(str(err)) from err

    return run  # type: ignore[return-value]


def _lookup(name_or_path: str) -> Path | ModelEntry:
    """A checkpoint path or a registry entry; unknown names become a click error."""

    try:
        return lookup_model(name_or_path)
    except KeyError as err:
        raise click.ClickException(str(err.args[0])) from err
    except FileNotFoundError as err:
        raise click.ClickException(str(err)) from err


def _resolve(name_or_path: str) -> Path:
    """The checkpoint file of a registered name or a path; unknown ones become a click error."""
    found = _lookup(name_or_path)
    return found if isinstance(found, Path) else found.file


def _human_bytes(n_bytes: int) -> str:
    """Decimal units: 950 B, 12.3 KB, 46.9 MB, 1.2 GB."""
    if n_bytes < 1000:
        return f"{n_bytes} B"
    exponent = min(3, int(math.log10(n_bytes)) // 3)
    return f"{n_bytes / 1000**exponent:.1f} {'KMG'[exponent - 1]}B"


def _human_count(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1e6:.2f}M"
    return f"{count / 1e3:.1f}K" if count >= 1_000 else str(count)


def _parameter_column(metadata: CheckpointMetadata) -> str:
    from avpc_plugin.checkpoints.format import (  # deferred: torch, only to build the net
        count_parameters,
    )

    try:
        return _human_count(count_parameters(metadata.arch, metadata.config))
    except CheckpointError:
        return "?"


@models.command("list", short_help="List registered models.")
@_user_errors
def models_list() -> None:
    """Table of registered models: name, arch, parameters, size, default (*), verified.

    Parameters come from the index (``?`` for an entry registered before it recorded them), the
    size from the file, and "verified" from the file's sha256: no checkpoint is read.
    """

    entries = list_models()
    if not entries:
        searched = ", ".join(str(folder) for folder in index_search_path())
        click.echo(f"no models registered (searched: {searched})")
        return
    rows = [("NAME", "ARCH", "PARAMS", "SIZE", "DEFAULT", "VERIFIED")]
    for entry in entries:
        params = "?" if entry.parameters is None else _human_count(entry.parameters)
        size = "-" if entry.size_bytes is None else _human_bytes(entry.size_bytes)
        verified = "missing"
        if entry.file.is_file():
            try:
                size_bytes, digest = entry.file.stat().st_size, sha256_file(entry.file)
            except OSError:
                verified = "unreadable"
            else:
                size = _human_bytes(size_bytes)
                verified = "ok" if digest == entry.sha256 else "MODIFIED"
        rows.append((entry.name, entry.arch, params, size, "*" if entry.default else "", verified))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@models.command("info", short_help="Show a checkpoint's config and summary.")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@_user_errors
def models_info(model: str, as_json: bool) -> None:
    """Show a checkpoint's config, training summary and versions.

    MODEL is a registry name or a path to a .pt checkpoint.
    """
    from avpc_plugin.checkpoints.format import (  # deferred: torch, to read the checkpoint
        FORMAT_NAME,
        read_checkpoint_metadata,
    )

    found = _lookup(model)
    entry = found if isinstance(found, ModelEntry) else None
    file = found.file if isinstance(found, ModelEntry) else found
    metadata = read_checkpoint_metadata(file, verify=True)
    if entry is not None:
        check_file_hash(metadata.path, metadata.sha256, entry.sha256)
    info: dict[str, Any] = {
        "file": str(metadata.path),
        "sha256": metadata.sha256,
        "size_bytes": metadata.size_bytes,
        "format": f"{FORMAT_NAME} v{metadata.format_version}",
        "arch": metadata.arch,
        "parameters": _parameter_column(metadata),
        "registry": None
        if entry is None
        else {
            "name": entry.name,
            "description": entry.description,
            "card": str(entry.card) if entry.card else None,
            "default": entry.default,
            "index": str(entry.index),
        },
        "config": metadata.config,
        "summary": metadata.summary,
        "versions": metadata.versions,
        "extra": metadata.extra_keys,
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for key in ("file", "sha256", "format", "arch", "parameters"):
        click.echo(f"{key + ':':<12} {info[key]}")
    click.echo(f"{'size:':<12} {_human_bytes(metadata.size_bytes)}")
    if entry is not None:
        click.echo(f"{'name:':<12} {entry.name}{' (default)' if entry.default else ''}")
        click.echo(f"{'about:':<12} {entry.description}")
        click.echo(f"{'card:':<12} {entry.card or '-'}")
        click.echo(f"{'index:':<12} {entry.index}")
    versions = ", ".join(f"{name} {version}" for name, version in metadata.versions.items())
    click.echo(f"{'versions:':<12} {versions}")
    click.echo(f"{'extra:':<12} {', '.join(metadata.extra_keys) or '-'}")
    for section in ("config", "summary"):
        click.echo(f"{section}:")
        click.echo("  " + json.dumps(info[section], indent=2).replace("\n", "\n  "))


@models.command("verify", short_help="Check checkpoint hashes.")
@click.argument("models_to_check", metavar="[MODEL]...", nargs=-1)
def models_verify(models_to_check: tuple[str, ...]) -> None:
    """Check checkpoint hashes: registered models against their index, files against their name.

    With no MODEL, every registered model is checked. Exits with status 1 if any check fails.
    """
    from avpc_plugin.checkpoints.format import (  # deferred: torch, to read a file's checkpoint
        read_checkpoint_metadata,
    )

    targets: list[Path | ModelEntry] = (
        [_lookup(model) for model in models_to_check] if models_to_check else list(list_models())
    )
    if not targets:
        click.echo("no models registered: nothing to verify")
        return
    failures = 0
    for target in targets:
        label = target.name if isinstance(target, ModelEntry) else str(target)
        try:
            if isinstance(target, ModelEntry):
                verify_model(target)
                note = str(target.file)
            else:
                read_checkpoint_metadata(target, verify=True)
                hashed = hash_in_file_name(target) is not None
                note = "" if hashed else "(readable; no hash in its name to check)"
        except (CheckpointError, RegistryError) as err:
            failures += 1
            click.echo(f"FAILED  {label}: {err}", err=True)
        else:
            click.echo(f"ok      {label}  {note}".rstrip())
    if failures:
        raise click.ClickException(f"{failures} of {len(targets)} checkpoints failed verification")


def _checkpoint_name(ctx: click.Context, param: click.Parameter, value: str) -> str:

    try:
        return validate_name(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from err


def _output_options(command: CommandT) -> CommandT:
    """``--name``, ``--out`` and ``--register`` / ``--description`` / ``--card`` / ``--default``."""
    options = [
        click.option(
            "--name", required=True, callback=_checkpoint_name, help="Checkpoint name stem."
        ),
        click.option(
            "--out",
            "out_dir",
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help="Output folder (created if missing).",
        ),
        click.option("--register", is_flag=True, help="Add the checkpoint to OUT/index.json."),
        click.option("--description", default=None, help="Registry description (--register)."),
        click.option(
            "--card",
            default=None,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Markdown model card to list with it (--register).",
        ),
        click.option(
            "--default", "make_default", is_flag=True, help="Make it OUT's default model."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _check_register_options(
    register: bool, description: str | None, card: Path | None, make_default: bool
) -> None:
    if (description is not None or card is not None or make_default) and not register:
        raise click.UsageError("--description, --card and --default need --register")


def _register(
    path: Path, out_dir: Path, name: str, description: str, card: Path | None, default: bool
) -> None:

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegistryWarning)
        entry = register_model(
            path, out_dir, description=description, card=card, default=default, name=name
        )
    click.echo(f"registered {entry.name!r} in {entry.index}")
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)


@models.command("convert", short_help="Convert reference checkpoints.")
@click.option(
    "--frame",
    "frame_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Reference implementation visual net state dict (frame_best.pth).",
)
@click.option(
    "--sound",
    "sound_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Reference implementation sound net state dict (sound_best.pth).",
)
@_output_options
@_user_errors
def models_convert(
    frame_file: Path,
    sound_file: Path,
    name: str,
    out_dir: Path,
    register: bool,
    description: str | None,
    card: Path | None,
    make_default: bool,
) -> None:
    """Convert reference-implementation checkpoints (net_frame / net_sound) to an avpc one."""
    from avpc_plugin.checkpoints.convert import (  # deferred: torch, to convert state dicts
        ConversionError,
        convert_reference_state_dicts,
    )
    from avpc_plugin.checkpoints.format import (  # deferred: torch, to read and write the files
        build_model,
        read_state_dict_file,
        save_checkpoint,
    )

    _check_register_options(register, description, card, make_default)
    frame_state = read_state_dict_file(frame_file)
    sound_state = read_state_dict_file(sound_file)
    try:
        config, state_dict = convert_reference_state_dicts(frame_state, sound_state)
    except ConversionError as err:
        raise click.ClickException(f"cannot convert {frame_file} + {sound_file}: {err}") from err
    model = build_model("avpc", config, state_dict, source=f"converted {frame_file} + {sound_file}")
    summary = {
        "source": "reference implementation (Audio-Visual-Predictive-Coding), converted",
        "converted_from": {
            "frame": {"file": frame_file.name, "sha256": sha256_file(frame_file)},
            "sound": {"file": sound_file.name, "sha256": sha256_file(sound_file)},
        },
    }
    path = save_checkpoint(model, out_dir, name, summary=summary)
    click.echo(f"wrote {path}")
    if register:
        about = description or f"converted from {frame_file.name} and {sound_file.name}"
        _register(path, out_dir, name, about, card, make_default)


@models.command("export", short_help="Write a release copy of a checkpoint.")
@click.argument("model")
@click.option(
    "--half/--full",
    default=False,
    show_default=True,
    help="Store the weights as float16 (half the file; loading casts them back to float32).",
)
@_output_options
@_user_errors
def models_export(
    model: str,
    name: str,
    out_dir: Path,
    half: bool,
    register: bool,
    description: str | None,
    card: Path | None,
    make_default: bool,
) -> None:
    """Copy MODEL (a registered name or a .pt file, e.g. a run's best checkpoint) for release.

    The copy keeps the net, its config and its training summary, and drops the resume state
    (optimizer and RNG), which is most of a training checkpoint's size.
    """
    import torch  # deferred: only the commands that read or write tensors load it

    from avpc_plugin.checkpoints.format import (  # deferred: torch, to read and write the files
        load_checkpoint,
        save_checkpoint,
    )

    _check_register_options(register, description, card, make_default)
    source = _resolve(model)
    loaded = load_checkpoint(source)
    summary = {**loaded.summary, "exported_from": {"file": source.name, "sha256": loaded.sha256}}
    dtype = torch.float16 if half else None
    path = save_checkpoint(loaded.model, out_dir, name, summary=summary, weights_dtype=dtype)
    click.echo(f"wrote {path} ({_human_bytes(path.stat().st_size)})")
    if register:
        _register(path, out_dir, name, description or f"exported from {source.name}", card,
                  make_default)  # fmt: skip


@models.command("export-trunk", short_help="Write a model's visual trunk as ResNet-18 weights.")
@click.argument("model")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@overwrite_option("OUT if it exists")
@_user_errors
def models_export_trunk(model: str, out: Path, overwrite: bool) -> None:
    """Write MODEL's visual trunk (a name or a .pt file) to OUT as a torchvision ResNet-18 state
    dict: the file that a net's ``trunk_weights`` takes (e.g. from a "visual" pre-training run,
    to start both AVPC and the Sound-of-Pixels baseline from the same trunk)."""
    import torch  # deferred: only the commands that read or write tensors load it

    from avpc_plugin.checkpoints.format import (  # deferred: torch, to read the checkpoint
        load_checkpoint,
    )
    from avpc_plugin.nets.visual import (  # deferred: torch, to map the trunk's weights
        trunk_state_to_torchvision,
    )

    if out.exists() and not overwrite:
        raise click.ClickException(f"{out} already exists (pass --overwrite to replace it)")
    source = _resolve(model)
    try:
        trunk = trunk_state_to_torchvision(load_checkpoint(source).model.state_dict())
    except ValueError as err:
        raise click.ClickException(f"{source}: {err}") from err
    buffer = io.BytesIO()
    torch.save(trunk, buffer)
    write_bytes_atomically(out, buffer.getvalue())
    click.echo(f"wrote {out} ({len(trunk)} tensors, {_human_bytes(len(buffer.getvalue()))})")
