"""Self-describing checkpoint files: one ``.pt`` file rebuilds a registered net on its own.

A checkpoint is a plain dict written with ``torch.save`` that
``torch.load(path, weights_only=True)`` reads back (only tensors and plain containers)::

    {
        "format": "avpc-checkpoint",
        "format_version": 1,
        "arch": "avpc",                        # name the net is registered under
        "config": {...},                       # the net's ``self.config`` (JSON-friendly)
        "state_dict": {name: Tensor, ...},     # stored on the CPU
        "summary": {...},                      # training summary (JSON-friendly, free-form)
        "versions": {"avpc_plugin": ..., "torch": ..., "python": ...},
        "extra": {...},                        # optional: optimizer / RNG state for exact resume
    }

Files are named ``<name>-<first 8 hex digits of the file's sha256>.pt`` so a reader can tell a
modified or damaged file from the name alone; the model registry keeps the full hash. Names,
hashes and the error type are in :mod:`~avpc_plugin.checkpoints.files`, which needs no torch.
"""

from __future__ import annotations

import os
import pickle
import platform
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import avpc_plugin
from avpc_plugin.atomic import fsync_directory, write_staged_file
from avpc_plugin.checkpoints.files import (
    CheckpointError,
    check_file_hash,
    hash_in_file_name,
    sha256_file,
    validate_name,
)
from avpc_plugin.nets.registry import build_net, get_net_class

FORMAT_NAME = "avpc-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "arch", "config", "state_dict", "summary", "versions")

_REFUSED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")

# Types torch.load(weights_only=True) rebuilds. Exact types: subclasses (numpy scalars, enums,
# torch's own ``TorchVersion`` string) pickle as their class and are refused on load.
_JSON_SCALARS = (str, int, float, bool, type(None))
_WEIGHTS_ONLY_SCALARS = (*_JSON_SCALARS, bytes, complex, torch.dtype, torch.device, torch.Size)
_WEIGHTS_ONLY_TENSORS = (torch.Tensor, nn.Parameter)


@dataclass(frozen=True)
class CheckpointMetadata:
    """What a checkpoint file says about itself, read without building its net.

    Attributes:
        path: the file.
        sha256: full hex sha256 of the file bytes.
        size_bytes: file size in bytes.
        format_version: the checkpoint format version.
        arch: registered net name.
        config: keyword arguments for ``build_net(arch, **config)``.
        summary: training summary.
        versions: library versions that wrote the file.
        tensor_shapes: shape of every state-dict entry, by key.
        extra_keys: names of the optional extra entries (optimizer, RNG state, ...).
    """

    path: Path
    sha256: str
    size_bytes: int
    format_version: int
    arch: str
    config: dict[str, Any]
    summary: dict[str, Any]
    versions: dict[str, str]
    tensor_shapes: dict[str, tuple[int, ...]]
    extra_keys: list[str]


@dataclass
class LoadedCheckpoint:
    """A checkpoint read back: its net (strictly loaded, in eval mode) and its metadata."""

    model: nn.Module
    arch: str
    config: dict[str, Any]
    summary: dict[str, Any]
    versions: dict[str, str]
    sha256: str
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ saving


def library_versions() -> dict[str, str]:
    """Versions of avpc-plugin, torch and Python, as plain strings."""
    return {
        "avpc_plugin": str(avpc_plugin.__version__),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }


def save_checkpoint(
    model: nn.Module,
    directory: str | os.PathLike[str],
    name: str,
    summary: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    weights_dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model`` as ``<directory>/<name>-<sha8>.pt`` and return that path.

    The file is written to a temporary file in the same folder, fsynced, then renamed, so a crash
    never leaves a half-written checkpoint under the final name. Saving the same model twice gives
    the same bytes, so the same file: an existing identical file is kept, an existing different
    file under that name is never overwritten.

    Args:
        model: a net built through the net registry (it has ``registered_name`` and ``config``);
            a ``DistributedDataParallel`` / ``DataParallel`` wrapper is unwrapped. Any device.
        directory: destination folder (created if missing).
        name: file-name stem; letters, digits, ``-``, ``_``, ``.``.
        summary: JSON-friendly training summary (steps, epochs, data, metrics, hardware, time).
        extra: optional tensors / plain containers (optimizer state, RNG state) for exact resume.
        weights_dtype: store the floating-point weights in this dtype (``torch.float16`` halves
            a release file); loading casts them back to the net's own dtype. ``None`` keeps them.

    Raises:
        ValueError: bad name, a model that is not a registered net, or summary / extra values
            that ``torch.load(weights_only=True)`` or JSON could not read back (the message
            names the key).
        CheckpointError: a different file already exists under the final name.
    """
    validate_name(name)
    payload = checkpoint_payload(model, summary=summary, extra=extra, weights_dtype=weights_dtype)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)

    staged = write_staged_file(folder, name, lambda handle: torch.save(payload, handle))
    try:
        digest = sha256_file(staged)
        target = folder / f"{name}-{digest[:8]}.pt"
        if target.exists():
            existing = sha256_file(target)
            if existing != digest:
                raise CheckpointError(
                    f"{target} already exists with different content (sha256 {existing}, new file "
                    f"{digest}); refusing to overwrite it: remove or rename it first"
                )
        else:
            os.replace(staged, target)
            fsync_directory(folder)
    finally:
        staged.unlink(missing_ok=True)
    return target


def checkpoint_payload(
    model: nn.Module,
    summary: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    weights_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """The dict ``save_checkpoint`` writes (see the module docstring), tensors moved to the CPU.

    With ``weights_dtype``, floating-point state-dict tensors are cast to it (integer buffers
    such as BatchNorm's ``num_batches_tracked`` are kept).
    """
    net = _unwrap_parallel(model)
    arch = getattr(type(net), "registered_name", None)
    config = getattr(net, "config", None)
    if (
        not isinstance(arch, str)
        or get_net_class(arch) is not type(net)  # not a subclass inheriting the name
        or not isinstance(config, dict)
    ):
        raise ValueError(
            f"model of class {type(net).__name__} is not a registered net: expected a class "
            "decorated with register_net(name) that stores its keyword arguments in self.config"
        )
    summary = dict(summary or {})
    extra = dict(extra or {})
    _check_plain(config, "config", allow_tensors=False)
    _check_plain(summary, "summary", allow_tensors=False)
    _check_plain(extra, "extra", allow_tensors=True)
    state_dict = {key: value.detach().cpu() for key, value in net.state_dict().items()}
    if weights_dtype is not None:
        state_dict = {
            key: value.to(weights_dtype) if value.is_floating_point() else value
            for key, value in state_dict.items()
        }
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "arch": arch,
        "config": config,
        "state_dict": state_dict,
        "summary": summary,
        "versions": library_versions(),
        "extra": extra,
    }


def _unwrap_parallel(model: nn.Module) -> nn.Module:
    parallel = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    return model.module if isinstance(model, parallel) else model


def _check_plain(value: Any, where: str, allow_tensors: bool) -> None:
    """Raise ValueError naming the first value (by key path) a checkpoint cannot hold.

    With ``allow_tensors=False`` only JSON-friendly values pass (dicts with string keys, lists,
    tuples, str, int, float, bool, None); otherwise anything ``torch.load(weights_only=True)``
    rebuilds (tensors, dtypes, devices, bytes, sets, dicts with any plain keys).
    """
    kind = type(value)
    if allow_tensors and kind in _WEIGHTS_ONLY_TENSORS:
        return
    if kind in (_WEIGHTS_ONLY_SCALARS if allow_tensors else _JSON_SCALARS):
        return
    if kind in (dict, OrderedDict):
        for key, item in value.items():
            if allow_tensors:
                _check_plain(key, f"{where} key {key!r}", allow_tensors)
            elif type(key) is not str:
                raise ValueError(f"{where}: key {key!r} is a {type(key).__name__}, expected str")
            _check_plain(item, f"{where}[{key!r}]", allow_tensors)
        return
    if kind in (list, tuple) or (allow_tensors and kind is set):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]", allow_tensors)
        return
    expected = (
        "tensors, numbers, strings, bools, None and dicts / lists / tuples of them"
        if allow_tensors
        else "JSON-friendly values (dict, list, str, int, float, bool, None)"
    )
    raise ValueError(
        f"{where}: a {kind.__module__}.{kind.__qualname__} cannot go into a checkpoint; expected "
        f"{expected} (convert numpy values with torch.from_numpy / float / int / .tolist())"
    )


# ----------------------------------------------------------------------------------------- loading


def read_checkpoint_metadata(
    path: str | os.PathLike[str], verify: bool = True
) -> CheckpointMetadata:
    """Read a checkpoint's metadata without building its net (tensors memory-mapped, not read).

    Args:
        path: a checkpoint file.
        verify: check the file's sha256 against the ``-<sha8>.pt`` in its name, when it has one.

    Raises:
        CheckpointError: missing, modified, corrupted or foreign file (the message says which).
    """
    file = Path(path)
    digest = _hash_and_verify(file, verify)
    payload = _read_payload(file, map_location="cpu", mmap=True)
    return CheckpointMetadata(
        path=file,
        sha256=digest,
        size_bytes=file.stat().st_size,
        format_version=payload["format_version"],
        arch=payload["arch"],
        config=payload["config"],
        summary=payload["summary"],
        versions=payload["versions"],
        tensor_shapes={key: tuple(value.shape) for key, value in payload["state_dict"].items()},
        extra_keys=sorted(payload.get("extra", {})),
    )


def load_checkpoint(
    path: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    verify: bool = True,
    expected_sha256: str | None = None,
) -> LoadedCheckpoint:
    """Load a checkpoint: build its net with ``build_net(arch, **config)`` and load it strictly.

    Args:
        path: a checkpoint file.
        map_location: device for the net and the extra tensors.
        verify: check the file's sha256 against the ``-<sha8>.pt`` in its name, when it has one.
        expected_sha256: a full hex sha256 the file must have (from a registry index).

    Returns:
        The net in eval mode on ``map_location``, with the file's metadata and extra entries.

    Raises:
        CheckpointError: missing, modified or corrupted file, unknown format / version / arch, or a
            state dict that does not fit the config (the message names the first offending key).
    """
    file = Path(path)
    digest = _hash_and_verify(file, verify)
    if expected_sha256 is not None:
        check_file_hash(file, digest, expected_sha256)
    payload = _read_payload(file, map_location=map_location)
    model = build_model(payload["arch"], payload["config"], payload["state_dict"], source=file)
    return LoadedCheckpoint(
        model=model.to(map_location).eval(),
        arch=payload["arch"],
        config=payload["config"],
        summary=payload["summary"],
        versions=payload["versions"],
        sha256=digest,
        path=file,
        extra=payload.get("extra", {}),
    )


def build_model(
    arch: str,
    config: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    source: str | os.PathLike[str] = "checkpoint",
) -> nn.Module:
    """Build the registered net ``arch`` from ``config`` and load ``state_dict`` strictly.

    Args:
        arch: registered net name.
        config: keyword arguments for ``build_net``.
        state_dict: tensors by key; must match the net's keys and shapes exactly.
        source: where the weights come from, for error messages.

    Raises:
        CheckpointError: unknown arch, a config the net rejects, or the first state-dict key that
            is missing, unexpected or of the wrong shape.
    """
    model = build_empty_model(arch, config, source)
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state_dict:
            raise CheckpointError(
                f"{source}: state dict does not fit the {arch!r} config: missing key {key!r}"
            )
        if tuple(state_dict[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source}: state dict does not fit the {arch!r} config: key {key!r} has shape "
                f"{tuple(state_dict[key].shape)}, the config builds {tuple(tensor.shape)}"
            )
    unexpected = [key for key in state_dict if key not in expected]
    if unexpected:
        raise CheckpointError(
            f"{source}: state dict does not fit the {arch!r} config: unexpected key "
            f"{unexpected[0]!r} ({len(unexpected)} unexpected in all)"
        )
    model.load_state_dict(dict(state_dict), strict=True)
    return model


def build_empty_model(
    arch: str, config: Mapping[str, Any], source: str | os.PathLike[str] = "checkpoint"
) -> nn.Module:
    """``build_net(arch, **config)`` (fresh weights) with its errors turned into CheckpointError."""
    try:
        return build_net(arch, **config)
    except KeyError as err:
        raise CheckpointError(f"{source}: unknown arch: {err.args[0]}") from None
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: config does not fit arch {arch!r}: {err}") from None
    except OSError as err:  # e.g. a config naming an initialisation file this machine lacks
        raise CheckpointError(f"{source}: building arch {arch!r} from its config: {err}") from None


def count_parameters(arch: str, config: Mapping[str, Any]) -> int:
    """Number of parameters of ``build_net(arch, **config)``, built on the meta device (no memory).

    Raises:
        CheckpointError: unknown arch or a config the net rejects.
    """
    with torch.device("meta"):
        model = build_empty_model(arch, config)
    return sum(parameter.numel() for parameter in model.parameters())


def _hash_and_verify(file: Path, verify: bool) -> str:
    """The file's full sha256, checked against the hash in its name when ``verify``."""
    if not file.is_file():
        raise CheckpointError(f"{file}: no such checkpoint file")
    digest = sha256_file(file)
    name_hash = hash_in_file_name(file)
    if verify and name_hash is not None:
        check_file_hash(file, digest, name_hash)
    return digest


def read_state_dict_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a bare ``torch.save``'d state dict (e.g. the reference implementation's ``*_best.pth``).

    Loaded with ``weights_only=True`` onto the CPU.

    Raises:
        CheckpointError: missing, unreadable or corrupted file, or not a dict of tensors.
    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"{file}: no such state-dict file")
    state_dict = _torch_load(file, map_location="cpu")
    if not isinstance(state_dict, dict) or not all(
        isinstance(value, torch.Tensor) for value in state_dict.values()
    ):
        raise CheckpointError(f"{file}: expected a state dict (a dict of tensors)")
    return state_dict


def _read_payload(
    file: Path, map_location: str | torch.device, mmap: bool = False
) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` the file; check it is a checkpoint this version reads."""
    payload = _torch_load(file, map_location=map_location, mmap=mmap)
    _check_payload(file, payload)
    return payload


def _torch_load(file: Path, map_location: str | torch.device, mmap: bool = False) -> Any:
    """``torch.load(weights_only=True)`` with its failures turned into CheckpointError."""
    try:
        return torch.load(file, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        refused = _REFUSED_GLOBAL.search(str(err))
        if refused:
            raise CheckpointError(
                f"{file}: holds a {refused[1]} object; torch.load(weights_only=True) only reads "
                "tensors and plain containers"
            ) from None
        raise CheckpointError(f"{file}: not a torch file, or a corrupted one") from None
    except Exception as err:  # garbage bytes make the unpickler fail in many ways (KeyError, ...)
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{file}: not a torch file, or a truncated / corrupted one ({first_line})"
        ) from None


def _check_payload(file: Path, payload: Any) -> None:
    """Raise CheckpointError unless ``payload`` is a checkpoint dict of a known format version."""
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"{file}: holds a {type(payload).__name__}, not an avpc checkpoint dict"
        )
    if (
        "format" not in payload
        and payload
        and all(isinstance(value, torch.Tensor) for value in payload.values())
    ):
        raise CheckpointError(
            f"{file}: a bare state dict, not an avpc checkpoint (reference implementation "
            "checkpoints convert with `avpc models convert`)"
        )
    if payload.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{file}: unknown format {payload.get('format')!r}, expected {FORMAT_NAME!r}"
        )
    version = payload.get("format_version")
    if type(version) is not int or version < 1:
        raise CheckpointError(f"{file}: unknown format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: format_version {version} was written by a newer avpc-plugin; this one "
            f"reads format_version {FORMAT_VERSION}: upgrade avpc-plugin"
        )
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{file}: missing checkpoint keys {missing}")
    expected_types = {
        "arch": str,
        "config": dict,
        "state_dict": dict,
        "summary": dict,
        "versions": dict,
        "extra": dict,
    }
    for key, kind in expected_types.items():
        if key in payload and not isinstance(payload[key], kind):
            raise CheckpointError(
                f"{file}: checkpoint key {key!r} is a {type(payload[key]).__name__}, "
                f"expected a {kind.__name__}"
            )
    for key, value in payload["state_dict"].items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{file}: state_dict[{key!r}] is a {type(value).__name__}, expected a tensor"
            )
