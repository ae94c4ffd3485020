"""Training configs: a TOML file read into typed sections and checked before any training starts.

Layout of a config file (every key optional unless marked; defaults are the paper setting)::

    extends = "avpc_paper.toml"  # optional: start from another config file (see below)
    name = "avpc-paper"          # checkpoint name stem (required)
    stage = "separate"           # "separate" (mix-and-separate), "rcop" (SimSiam pre-training)
                                 # or "visual" (visual trunk pre-training on instrument labels)
    out_dir = "../runs/avpc"     # run folder: checkpoints, metrics.jsonl, curves.png (required)
    seed = 0
    init_from = "../runs/rcop"   # optional: a checkpoint file, or a run folder (its best model)

    [model]                      # arch = a registered top-level net ("avpc", "sop")
    arch = "avpc"
    [model.config]               # keyword arguments of build_net(arch, ...), e.g. sound.ngf;
                                 # a trunk_weights file is taken from the config's folder too
    [data]                       # train / val: a corpus folder (index.jsonl), a folder of solo
                                 # videos in instrument folders, or a MUSIC CSV index
    [optim]                      # optimizer, learning rates, weight decay, lr drops
    [loss]                       # mask target and loss
    [train]                      # epochs, global batch, validation / log cadence, checkpoints kept
    [rcop]                       # SimSiam heads (stage = "rcop" only)
    [hardware]                   # bf16 autocast, channels_last, torch.compile, pinned memory

Relative paths are taken from the config file's folder, so a config means the same thing from
any working directory. A config that ``extends`` another states only what differs: the other
file (relative to this one's folder; it may extend a third) is read first, its relative paths
taken from its own folder, and this file's keys replace its keys table by table (a table merges
key by key, any other value is replaced whole). It must set its own ``name`` and ``out_dir``, so
two runs never share a run folder.

Every problem is reported as ``FILE: [section] key: what was expected`` (:class:`ConfigError`;
for an inherited key, FILE is the extending one): unknown keys, wrong types, out-of-range values,
missing data folders and a model config the registered net rejects all fail here, before a single
batch is loaded.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from avpc_plugin.checkpoints.files import validate_name
from avpc_plugin.data.corpus import is_corpus_folder
from avpc_plugin.data.folder import VIDEO_SUFFIXES
from avpc_plugin.nets.registry import build_net, list_nets

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Stage = Literal["separate", "rcop", "visual"]
MaskKind = Literal["binary", "ratio"]
OptimizerName = Literal["adamw", "sgd"]


class ConfigError(ValueError):
    """A training config that cannot be used; the message names the file, section and key."""


@dataclass(frozen=True)
class ModelSection:
    """``[model]``: which registered net to train and its keyword config."""

    arch: str = "avpc"
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataSection:
    """``[data]``: where the solo clips come from and how mixtures are drawn.

    ``train`` / ``val`` are each one of: a corpus folder (with ``index.jsonl``, see ``avpc data
    synth``); a folder of your own solo videos (mp4 / mov / mkv with sound), each in a folder
    named after its instrument (``footage/train/violin/take1.mp4``) or named by an index file
    (``train_index`` / ``val_index``, see :mod:`avpc_plugin.data.folder`); or a MUSIC-layout CSV
    index file.
    """

    train: Path = Path()
    val: Path = Path()
    train_index: Path | None = None
    """With a video folder ``train``: a CSV / JSON / JSON-lines file naming each video's
    instrument (paths relative to the folder), instead of the folder names."""
    val_index: Path | None = None
    """As ``train_index``, for ``val``."""
    sources: int = 2
    """Sources per training mixture (RCoP always draws 3: A, B, C)."""
    val_sources: int = 2
    train_items: int = 0
    """Mixtures per epoch; 0 = one per training clip."""
    val_items: int = 0
    """Validation mixtures (fixed); 0 = one per validation clip."""
    frames: int = 3
    """Frames per source (T)."""
    frame_stride: int = 24
    """Frames between the selected frames, at ``fps``."""
    fps: float = 8.0
    image_size: int = 224
    """Side in pixels of the frames the loader hands the model (the visual trunk resizes them to
    its ``trunk_input_size``). The cache stores them 1.1x as wide: a 6 s clip takes 8.7 MB at
    224 px, 2.2 MB at 112 px, so a trunk that sees 112 px wants ``image_size = 112`` on a big
    corpus."""
    workers: int = 2
    """DataLoader worker processes per rank (0 = load in the training process)."""
    cache: Path | None = None
    """Folder of the pre-decoded clip caches (built on first use); default ``<out_dir>/cache``."""
    frame_augment: float = 0.0
    """Chance that a training source's frames are restyled (colour jitter, grayscale or a line
    drawing: :func:`avpc_plugin.data.frames.restyle_frames`); 0 = crop and flip only."""
    audio_augment: float = 0.0
    """Chance that a training source's audio goes through a random four-band equaliser
    (:func:`avpc_plugin.audio.augment.equalize_randomly`) before mixing; 0 = none."""


@dataclass(frozen=True)
class OptimSection:
    """``[optim]``: the optimizer and its step schedule."""

    optimizer: OptimizerName = "adamw"
    lr_sound: float = 1e-3
    lr_visual: float = 1e-4
    lr_heads: float = 1e-3
    """RCoP SimSiam heads' learning rate."""
    weight_decay: float = 1e-2
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = 0.9
    """SGD momentum (the reference's RCoP pre-training optimizer)."""
    lr_drops: list[float] = field(default_factory=lambda: [0.4, 0.8])
    """Fractions of training at whose epoch the learning rates are multiplied by ``lr_factor``."""
    lr_factor: float = 0.1
    grad_clip: float = 0.0
    """Clip the global gradient norm to this value; 0 = no clipping."""


@dataclass(frozen=True)
class LossSection:
    """``[loss]``: the mask target and its loss."""

    mask: MaskKind = "binary"
    """Binary target (source > 0.5 mix, weighted BCE) or ratio target (weighted L1 / L2)."""
    ratio_norm: int = 1
    """1 (L1) or 2 (L2) for ratio masks."""
    weighted: bool = True
    """Weight every bin by ``clamp(log1p(mix magnitude), 1e-3, 10)``."""
    threshold: float = 0.5
    """Validation: binarise mask probabilities at this value (binary masks only)."""


@dataclass(frozen=True)
class TrainSection:
    """``[train]``: length and cadence."""

    epochs: int = 100
    batch_size: int = 64
    """Global batch (summed over ranks; must divide by the world size)."""
    val_every: int = 1
    """Validate every this many epochs (and after the last)."""
    log_every: int = 10
    """Write a metrics line every this many steps."""
    keep_checkpoints: int = 2
    """Keep the last this many epoch checkpoints (``checkpoints/``; each holds the optimizer state
    too); as many as ``epochs`` keeps them all, for averaging or scoring every epoch."""


@dataclass(frozen=True)
class RCoPSection:
    """``[rcop]``: SimSiam heads of the RCoP pre-training stage (see ``nets.rcop``)."""

    pooled_size: int = 64
    proj_dim: int = 2048
    pred_hidden: int = 512


@dataclass(frozen=True)
class HardwareSection:
    """``[hardware]``: speed options; each applies on CUDA only and is ignored on the CPU."""

    bf16: bool = True
    """bf16 autocast for the forward pass."""
    channels_last: bool = True
    compile: bool = False
    """``torch.compile`` the model (first steps are slow while it compiles)."""
    pin_memory: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """A whole training config (see the module docstring)."""

    name: str
    out_dir: Path
    stage: Stage = "separate"
    seed: int = 0
    init_from: Path | None = None
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossSection = field(default_factory=LossSection)
    train: TrainSection = field(default_factory=TrainSection)
    rcop: RCoPSection = field(default_factory=RCoPSection)
    hardware: HardwareSection = field(default_factory=HardwareSection)
    source: Path | None = None
    """The file the config was read from (not a TOML key)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (paths as strings), for checkpoint summaries and logs."""
        return _plain(dataclasses.asdict(self))


_SECTIONS: dict[str, type] = {
    "model": ModelSection,
    "data": DataSection,
    "optim": OptimSection,
    "loss": LossSection,
    "train": TrainSection,
    "rcop": RCoPSection,
    "hardware": HardwareSection,
}
_REQUIRED_TOP = ("name", "out_dir")
_PATH_KEYS = {
    ("data", "train"),
    ("data", "val"),
    ("data", "train_index"),
    ("data", "val_index"),
    ("data", "cache"),
    (None, "out_dir"),
    (None, "init_from"),
}


def load_config(path: str | Path, check_data: bool = True) -> TrainConfig:
    """Read and check a training config file.

    Args:
        path: the TOML file.
        check_data: also require the data folders / CSV files to exist (and ``init_from`` and
            the ``[model.config]`` weights files, which are read).

    Raises:
        ConfigError: unreadable TOML, an unknown key, a wrong type or value, a missing data path
            or a model config the net rejects; the message names the file and the key.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: no such config file")
    raw = _read_with_parents(file, chain=(file.resolve(),))
    return config_from_dict(raw, base=file.parent, source=file, check_data=check_data)


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with open(file, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file}: not valid TOML ({err})") from None


def _read_with_parents(file: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """The TOML of ``file`` merged onto the config it ``extends`` (recursively), the parents'
    relative paths rewritten to mean the same from ``file``'s folder. ``chain``: the files
    already being read (resolved), to catch a cycle."""
    raw = _read_toml(file)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"{file}: extends: expected a config file path, got {parent!r}")
    parent_file = file.parent / Path(parent).expanduser()
    if parent_file.resolve() in chain:
        cycle = " -> ".join(str(f) for f in (*chain, parent_file.resolve()))
        raise ConfigError(f"{file}: extends: a cycle of configs ({cycle})")
    if not parent_file.is_file():
        raise ConfigError(f"{file}: extends: no such config file {parent_file}")
    for key in _REQUIRED_TOP:
        if key not in raw:
            raise ConfigError(
                f"{file}: missing required key {key!r} (a config that extends another sets its "
                f"own name and out_dir)"
            )
    inherited = _read_with_parents(parent_file, (*chain, parent_file.resolve()))
    return _merge_tables(_rebase_paths(inherited, parent_file.parent, file.parent), raw)


def _rebase_paths(raw: dict[str, Any], old: Path, new: Path) -> dict[str, Any]:
    """``raw`` with its relative path values (``_PATH_KEYS``, ``[model.config]`` weights files)
    rewritten from folder ``old`` to folder ``new``; anything that is not a path string is left
    for the checks."""

    def rebase(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        path = Path(value).expanduser()
        return value if path.is_absolute() else os.path.relpath(old / path, new)

    out = dict(raw)
    for section, key in _PATH_KEYS:
        table = out if section is None else out.get(section)
        if isinstance(table, dict) and key in table:
            if section is not None:
                table = out[section] = dict(table)
            table[key] = rebase(table[key])
    model = out.get("model")
    if isinstance(model, dict) and isinstance(model.get("config"), dict):
        out["model"] = {**model, "config": _map_weight_paths(model["config"], rebase)}
    return out


def _merge_tables(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``: tables merge key by key, other values are replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_tables(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_from_dict(
    raw: dict[str, Any],
    base: Path = Path(),
    source: Path | None = None,
    check_data: bool = True,
) -> TrainConfig:
    """Build a :class:`TrainConfig` from parsed TOML; relative paths are taken from ``base``.

    Raises:
        ConfigError: as :func:`load_config` (the message starts with ``source`` when given).
    """
    where = f"{source}: " if source is not None else ""
    top_fields = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "source"}
    unknown = sorted(set(raw) - set(top_fields))
    if unknown:
        raise ConfigError(
            f"{where}unknown key {unknown[0]!r} (expected keys: {', '.join(sorted(top_fields))})"
        )
    for key in _REQUIRED_TOP:
        if key not in raw:
            raise ConfigError(f"{where}missing required key {key!r}")
    hints = typing.get_type_hints(TrainConfig)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECTIONS:
            values[key] = _section(_SECTIONS[key], value, key, base, where)
        else:
            values[key] = _coerce(
                value, hints[key], key, where, base if (None, key) in _PATH_KEYS else None
            )
    if "model" in values:
        model_config = _resolve_weight_paths(values["model"].config, base)
        values["model"] = dataclasses.replace(values["model"], config=model_config)
    config = TrainConfig(**values, source=source)
    _check_values(config, where, check_data)
    return config


WEIGHT_PATH_KEYS = ("trunk_weights",)
"""Keys of ``[model.config]`` (at any depth) that name a weights file: relative to the config."""


def _without_weight_paths(value: Any) -> Any:
    """``value`` with every weights-file path (``WEIGHT_PATH_KEYS``) set to None."""
    return _map_weight_paths(value, lambda _: None)


def _resolve_weight_paths(value: Any, base: Path) -> Any:
    """``value`` with each relative weights-file path (``WEIGHT_PATH_KEYS``) taken from ``base``."""

    def resolve(item: Any) -> Any:
        if isinstance(item, str) and not Path(item).is_absolute():
            return str(base / item)
        return item

    return _map_weight_paths(value, resolve)


def _map_weight_paths(value: Any, change: Callable[[Any], Any]) -> Any:
    """``value`` (a ``[model.config]`` table) with ``change`` applied to every weights-file
    entry (``WEIGHT_PATH_KEYS``, at any depth)."""
    if not isinstance(value, dict):
        return value
    return {
        key: change(item) if key in WEIGHT_PATH_KEYS else _map_weight_paths(item, change)
        for key, item in value.items()
    }


def _section(cls: type, raw: Any, name: str, base: Path, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[{name}]: expected a table, got {type(raw).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ConfigError(
            f"{where}[{name}] unknown key {unknown[0]!r} "
            f"(expected keys: {', '.join(sorted(fields))})"
        )
    hints = typing.get_type_hints(cls)
    values = {
        key: _coerce(
            value, hints[key], f"[{name}] {key}", where, base if (name, key) in _PATH_KEYS else None
        )
        for key, value in raw.items()
    }
    return cls(**values)


def _coerce(value: Any, hint: Any, key: str, where: str, base: Path | None) -> Any:
    """Check ``value`` against the type ``hint`` (ints pass as floats); relative paths are taken
    from ``base``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _coerce(value, options[0], key, where, base)
    if origin is Literal:
        if value not in args:
            choices = " or ".join(repr(a) for a in args)
            raise ConfigError(f"{where}{key}: expected {choices}, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}{key}: expected a path string, got {value!r}")
        path = Path(value).expanduser()
        return path if path.is_absolute() or base is None else (base / path)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(
                f"{where}{key}: expected a list, got {type(value).__name__} {value!r}"
            )
        return [_coerce(item, args[0], f"{key}[{i}]", where, base) for i, item in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}{key}: expected a table, got {type(value).__name__}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(
                f"{where}{key}: expected a number, got {type(value).__name__} {value!r}"
            )
        return float(value)
    if hint in (int, bool, str):
        if type(value) is not hint:
            raise ConfigError(
                f"{where}{key}: expected {hint.__name__}, got {type(value).__name__} {value!r}"
            )
        return value
    raise TypeError(f"internal: no rule for type {hint!r} of {key}")


def _check_values(config: TrainConfig, where: str, check_data: bool) -> None:
    """Ranges, cross-key rules, data paths and the model config itself."""
    positive = [
        ("[data] sources", config.data.sources),
        ("[data] val_sources", config.data.val_sources),
        ("[data] frames", config.data.frames),
        ("[data] frame_stride", config.data.frame_stride),
        ("[data] image_size", config.data.image_size),
        ("[train] epochs", config.train.epochs),
        ("[train] batch_size", config.train.batch_size),
        ("[train] val_every", config.train.val_every),
        ("[train] log_every", config.train.log_every),
        ("[train] keep_checkpoints", config.train.keep_checkpoints),
    ]
    for key, value in positive:
        if value < 1:
            raise ConfigError(f"{where}{key}: expected a positive integer, got {value}")
    for key, number in (
        ("[data] train_items", config.data.train_items),
        ("[data] val_items", config.data.val_items),
        ("[data] workers", config.data.workers),
        ("[optim] weight_decay", config.optim.weight_decay),
        ("[optim] grad_clip", config.optim.grad_clip),
    ):
        if number < 0:
            raise ConfigError(f"{where}{key}: expected >= 0, got {number}")
    for key, rate in (
        ("[optim] lr_sound", config.optim.lr_sound),
        ("[optim] lr_visual", config.optim.lr_visual),
        ("[optim] lr_heads", config.optim.lr_heads),
        ("[optim] lr_factor", config.optim.lr_factor),
        ("[data] fps", config.data.fps),
    ):
        if not rate > 0:
            raise ConfigError(f"{where}{key}: expected a positive number, got {rate}")
    if len(config.optim.betas) != 2 or not all(0 <= b < 1 for b in config.optim.betas):
        raise ConfigError(
            f"{where}[optim] betas: expected two numbers in [0, 1), got {config.optim.betas}"
        )
    if not all(0 < f < 1 for f in config.optim.lr_drops):
        raise ConfigError(
            f"{where}[optim] lr_drops: expected fractions of training in (0, 1), got "
            f"{config.optim.lr_drops}"
        )
    if config.loss.ratio_norm not in (1, 2):
        raise ConfigError(
            f"{where}[loss] ratio_norm: expected 1 or 2, got {config.loss.ratio_norm}"
        )
    for key in ("frame_augment", "audio_augment"):
        chance = getattr(config.data, key)
        if not 0 <= chance <= 1:
            raise ConfigError(
                f"{where}[data] {key}: expected a probability in [0, 1], got {chance}"
            )
    if not 0 < config.loss.threshold < 1:
        raise ConfigError(
            f"{where}[loss] threshold: expected a value in (0, 1), got {config.loss.threshold}"
        )
    for key, value in (("sources", config.data.sources), ("val_sources", config.data.val_sources)):
        if value < 2:  # one source is its own mix: nothing to separate, a trivial task
            raise ConfigError(
                f"{where}[data] {key}: expected 2 or more sources per mixture, got {value}"
            )
    if config.stage == "rcop" and config.model.arch != "avpc":
        raise ConfigError(
            f"{where}stage: 'rcop' pre-trains the 'avpc' model, but [model] arch is "
            f"{config.model.arch!r}"
        )
    _check_name(config.name, where)
    _check_model(config, where, check_data)
    if check_data:
        data = config.data
        for split, path, index in (
            ("train", data.train, data.train_index),
            ("val", data.val, data.val_index),
        ):
            _check_data_path(path, index, split, where)
        if config.init_from is not None and not config.init_from.exists():
            raise ConfigError(
                f"{where}init_from: no checkpoint file or run folder at {config.init_from}"
            )


def _check_name(name: str, where: str) -> None:
    try:
        validate_name(name)
    except ValueError as err:
        raise ConfigError(f"{where}name: {err}") from None


def _check_model(config: TrainConfig, where: str, check_files: bool = True) -> None:
    """Build the net on the meta device: a config it rejects fails now, naming the arch.

    With ``check_files`` its weights files are read too; without, they are left out.
    """
    arch = config.model.arch
    if arch not in list_nets():
        raise ConfigError(
            f"{where}[model] arch: unknown net {arch!r} (registered: {', '.join(list_nets())})"
        )
    try:
        with torch.device("meta"), warnings.catch_warnings():
            # a trunk_weights file is read for real and copied into meta tensors: a checked no-op
            warnings.filterwarnings("ignore", message=".*non-meta parameter.*")
            model_config = (
                config.model.config if check_files else _without_weight_paths(config.model.config)
            )
            net = build_net(arch, **model_config)
    except (TypeError, ValueError, OSError) as err:
        raise ConfigError(f"{where}[model.config]: rejected by {arch!r}: {err}") from None
    for method in ("visual_features", "masks_from_features", "param_groups"):
        if not callable(getattr(net, method, None)):
            raise ConfigError(
                f"{where}[model] arch: {arch!r} is not a top-level separation net (no {method}())"
            )


def _check_data_path(path: Path, index: Path | None, split: str, where: str) -> None:
    """``[data] <split>`` names a corpus folder, a video folder or a MUSIC CSV index, and
    ``<split>_index`` (if set) is a file that goes with a video folder."""
    key = f"[data] {split}"
    if path == Path():
        raise ConfigError(
            f"{where}{key}: missing (a corpus folder, a folder of solo videos or a MUSIC CSV index)"
        )
    video_folder = path.is_dir() and not is_corpus_folder(path)
    if video_folder and not any(
        p.suffix.lower() in VIDEO_SUFFIXES for p in path.rglob("*") if p.is_file()
    ):
        raise ConfigError(
            f"{where}{key}: folder {path} has neither an index.jsonl (a corpus folder) nor any "
            f"video ({', '.join(VIDEO_SUFFIXES)}) under it"
        )
    if not path.exists():
        raise ConfigError(f"{where}{key}: no such data folder or CSV index: {path}")
    if index is not None:
        if not video_folder:
            raise ConfigError(
                f"{where}[data] {split}_index: goes with a folder of videos, but {key} is "
                f"{'a corpus folder' if path.is_dir() else 'a CSV index'} ({path})"
            )
        if not index.is_file():
            raise ConfigError(f"{where}[data] {split}_index: no such index file: {index}")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value
