"""Conversion between the reference implementation's state dicts and :class:`AVPC`'s.

The reference code (zjsong/Audio-Visual-Predictive-Coding) saves two state dicts:

* ``net_frame`` (``ResNetFC``): ``features.*`` (the ResNet-18 trunk) and ``fc.0`` / ``fc.1``
  (the head conv and its BatchNorm);
* ``net_sound`` (``PCNetLR``): ``DownConvs.*``, ``UpConvs.*``, ``a0.*``, ``b0.*``, ``BNUp.*``,
  ``BNDown.*``, ``BNUp_step.*``, ``BNDown_step.*``.

Every tensor maps one-to-one, unchanged, onto an AVPC tensor; only the names differ. The table
of module-name prefixes (with ``n`` hierarchy levels, ``l < n`` a level, ``t`` a trained cycle):

====================================  ==========================================
AVPC (``sound_net.`` / ``visual_net.``)  reference
====================================  ==========================================
``input_norm``                        ``BNDown.{n}``
``encoder_norms.{l}``                 ``BNDown.{l}``
``init_correction_norms.{l}``         ``BNUp.{l}``
``cycle_prediction_norms.{t}.{l}``    ``BNDown_step.{(n - 1) t + l}`` (l < n - 1)
``cycle_correction_norms.{t}.{l}``    ``BNUp_step.{n t + l}``
``spec_encoder.conv``                 ``DownConvs.{n}.conv2d``
``predictors.{l}.conv``               ``DownConvs.{l}.conv2d`` (``predictors.0`` =
                                      ``DownConvs.0`` unless the map is 1 x 1)
``correctors.{l}.conv``               ``UpConvs.{l}.convtrans2d`` (``correctors.0`` =
                                      ``UpConvs.0`` unless the map is 1 x 1)
``mask_decoder.conv``                 ``UpConvs.{n}.convtrans2d``
``correction_rates.{l}``              ``a0.{l}``
``prediction_rates.{l}``              ``b0.{l}``
``trunk``                             ``features``
``head_conv`` / ``head_norm``         ``fc.0`` / ``fc.1``
====================================  ==========================================

The reference always freezes its (ImageNet) trunk, so converted configs set ``freeze_trunk``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from avpc_plugin.nets.avpc import AVPC
from avpc_plugin.nets.pcnet import level_channels
from avpc_plugin.nets.visual import HEAD_KERNELS, TRUNK_CHANNELS

SOUND_PREFIX = "sound_net."
VISUAL_PREFIX = "visual_net."

StateDict = Mapping[str, Tensor]

_MAP_SIZE_BY_HEAD_KERNEL = {kernel: size for size, kernel in HEAD_KERNELS.items()}


class ConversionError(ValueError):
    """A state dict that does not fit the expected architecture (the message names the key)."""


def sound_name_table(num_levels: int, train_cycles: int, visual_map_size: int) -> dict[str, str]:
    """Module-name prefixes of :class:`PCNet` -> those of the reference ``PCNetLR``."""
    n = num_levels
    table = {
        "input_norm": f"BNDown.{n}",
        "spec_encoder.conv": f"DownConvs.{n}.conv2d",
        "mask_decoder.conv": f"UpConvs.{n}.convtrans2d",
    }
    for level in range(n):
        if level == 0 and visual_map_size != 1:  # plain (transposed) convs next to the visual map
            table["predictors.0"] = "DownConvs.0"
            table["correctors.0"] = "UpConvs.0"
        else:
            table[f"predictors.{level}.conv"] = f"DownConvs.{level}.conv2d"
            table[f"correctors.{level}.conv"] = f"UpConvs.{level}.convtrans2d"
        table[f"correction_rates.{level}"] = f"a0.{level}"
        table[f"prediction_rates.{level}"] = f"b0.{level}"
        table[f"encoder_norms.{level}"] = f"BNDown.{level}"
        table[f"init_correction_norms.{level}"] = f"BNUp.{level}"
        for cycle in range(train_cycles):
            table[f"cycle_correction_norms.{cycle}.{level}"] = f"BNUp_step.{n * cycle + level}"
            if level < n - 1:
                table[f"cycle_prediction_norms.{cycle}.{level}"] = (
                    f"BNDown_step.{(n - 1) * cycle + level}"
                )
    return table


VISUAL_NAME_TABLE = {"trunk": "features", "head_conv": "fc.0", "head_norm": "fc.1"}
"""Module-name prefixes of :class:`VisualNet` -> those of the reference ``ResNetFC``."""


def convert_reference_state_dicts(
    net_frame_sd: StateDict, net_sound_sd: StateDict
) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Reference ``net_frame`` and ``net_sound`` state dicts -> (AVPC config, AVPC state dict).

    ngf, trained cycles, visual channels and map size are read from the tensor shapes. Keys saved
    through a (Distributed)DataParallel wrapper (``module.`` prefix) are accepted too.

    Raises:
        ConversionError: a key missing, unexpected or of the wrong shape (named in the message),
            or shapes that fit no AVPC architecture.
    """
    net_frame_sd = _without_wrapper_prefix(net_frame_sd)
    net_sound_sd = _without_wrapper_prefix(net_sound_sd)
    config = infer_reference_config(net_frame_sd, net_sound_sd)
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        expected = AVPC(**config).state_dict()
    sound_table = _sound_table_for(config)
    sources = {VISUAL_PREFIX: net_frame_sd, SOUND_PREFIX: net_sound_sd}
    names = {VISUAL_PREFIX: "net_frame", SOUND_PREFIX: "net_sound"}
    tables = {VISUAL_PREFIX: VISUAL_NAME_TABLE, SOUND_PREFIX: sound_table}

    state: dict[str, Tensor] = {}
    used: dict[str, set[str]] = {prefix: set() for prefix in sources}
    for key, target in expected.items():
        prefix = VISUAL_PREFIX if key.startswith(VISUAL_PREFIX) else SOUND_PREFIX
        ref_key = _rename(key[len(prefix) :], tables[prefix])
        source = sources[prefix]
        if ref_key not in source:
            raise ConversionError(f"{names[prefix]}: missing key {ref_key!r} (for {key!r})")
        tensor = source[ref_key]
        if tuple(tensor.shape) != tuple(target.shape):
            raise ConversionError(
                f"{names[prefix]}: key {ref_key!r} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(target.shape)}"
            )
        state[key] = tensor
        used[prefix].add(ref_key)
    for prefix, source in sources.items():
        unknown = sorted(set(source) - used[prefix])
        if unknown:
            raise ConversionError(f"{names[prefix]}: unexpected keys {unknown[:5]}")
    return config, state


def to_reference_state_dicts(
    avpc_state_dict: StateDict,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """AVPC state dict -> (reference ``net_frame`` state dict, reference ``net_sound`` state dict).

    Raises:
        ConversionError: a key outside the AVPC naming (named in the message).
    """
    config = infer_avpc_config(avpc_state_dict)
    sound_table = _sound_table_for(config)
    net_frame: dict[str, Tensor] = {}
    net_sound: dict[str, Tensor] = {}
    for key, tensor in avpc_state_dict.items():
        if key.startswith(VISUAL_PREFIX):
            net_frame[_rename(key[len(VISUAL_PREFIX) :], VISUAL_NAME_TABLE, key)] = tensor
        elif key.startswith(SOUND_PREFIX):
            net_sound[_rename(key[len(SOUND_PREFIX) :], sound_table, key)] = tensor
        else:
            raise ConversionError(f"AVPC state dict: unexpected key {key!r}")
    return net_frame, net_sound


def infer_reference_config(net_frame_sd: StateDict, net_sound_sd: StateDict) -> dict[str, Any]:
    """The AVPC config of reference state dicts, read from their tensor shapes."""
    head = _require(net_frame_sd, "fc.0.weight", "net_frame")
    map_size = _map_size_from_head(head, "net_frame: key 'fc.0.weight'")
    visual_channels = int(head.shape[0])

    num_levels = _max_index(net_sound_sd, "DownConvs", "net_sound")
    encoder = _require(net_sound_sd, f"DownConvs.{num_levels}.conv2d.weight", "net_sound")
    ngf = int(encoder.shape[0])
    levels = _max_index(net_sound_sd, "BNUp", "net_sound") + 1
    steps = _max_index(net_sound_sd, "BNUp_step", "net_sound") + 1
    expected_levels = len(level_channels(1, map_size))
    if num_levels != expected_levels or levels != num_levels or steps % num_levels:
        raise ConversionError(
            f"net_sound: {num_levels} DownConvs levels, {levels} BNUp and {steps} BNUp_step layers "
            f"do not fit a {map_size} x {map_size} visual map (expected {expected_levels} levels)"
        )
    decoder = _require(net_sound_sd, f"UpConvs.{num_levels}.convtrans2d.weight", "net_sound")
    cycles, out_channels = steps // num_levels, int(decoder.shape[1])
    return _avpc_config(map_size, visual_channels, ngf, cycles, out_channels, freeze=True)


def infer_avpc_config(avpc_state_dict: StateDict) -> dict[str, Any]:
    """The AVPC architecture config of an AVPC state dict, read from its tensor shapes.

    ``freeze_trunk`` (not visible in a state dict) is set to ``False``.
    """
    name = "AVPC state dict"
    head = _require(avpc_state_dict, VISUAL_PREFIX + "head_conv.weight", name)
    map_size = _map_size_from_head(head, f"{name}: key 'visual_net.head_conv.weight'")
    encoder = _require(avpc_state_dict, SOUND_PREFIX + "spec_encoder.conv.weight", name)
    decoder = _require(avpc_state_dict, SOUND_PREFIX + "mask_decoder.conv.weight", name)
    cycles = _max_index(avpc_state_dict, SOUND_PREFIX + "cycle_correction_norms", name) + 1
    ngf, out_channels = int(encoder.shape[0]), int(decoder.shape[1])
    return _avpc_config(map_size, int(head.shape[0]), ngf, cycles, out_channels, freeze=False)


def _avpc_config(
    map_size: int, visual_channels: int, ngf: int, cycles: int, out_channels: int, *, freeze: bool
) -> dict[str, Any]:
    return {
        "visual": {
            "map_size": map_size,
            "visual_channels": visual_channels,
            "trunk_weights": None,
            "freeze_trunk": freeze,
        },
        "sound": {
            "ngf": ngf,
            "train_cycles": cycles,
            "visual_channels": visual_channels,
            "visual_map_size": map_size,
            "out_channels": out_channels,
        },
    }


def _sound_table_for(config: Mapping[str, Any]) -> dict[str, str]:
    sound = config["sound"]
    map_size = sound["visual_map_size"]
    num_levels = len(level_channels(sound["ngf"], map_size))
    return sound_name_table(num_levels, sound["train_cycles"], map_size)


def _without_wrapper_prefix(state: StateDict) -> dict[str, Tensor]:
    """``state`` with the ``module.`` prefix of (Distributed)DataParallel dropped, when every key
    has it."""
    wrapper = "module."
    if state and all(key.startswith(wrapper) for key in state):
        return {key[len(wrapper) :]: value for key, value in state.items()}
    return dict(state)


def _rename(name: str, table: Mapping[str, str], full_key: str | None = None) -> str:
    """Rename ``name`` by its longest module prefix (whole dotted components) in ``table``."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in table:
            return ".".join([table[prefix], *parts[cut:]])
    raise ConversionError(f"AVPC state dict: unexpected key {full_key or name!r}")


def _require(state: StateDict, key: str, name: str) -> Tensor:
    if key not in state:
        raise ConversionError(f"{name}: missing key {key!r}")
    return state[key]


def _max_index(state: StateDict, module: str, name: str) -> int:
    pattern = re.compile(re.escape(module) + r"\.(\d+)\.")
    indices = [int(m.group(1)) for key in state if (m := pattern.match(key))]
    if not indices:
        raise ConversionError(f"{name}: no keys under {module + '.'!r}")
    return max(indices)


def _map_size_from_head(head: Tensor, where: str) -> int:
    if (
        head.ndim != 4
        or head.shape[1] != TRUNK_CHANNELS
        or int(head.shape[-1]) not in _MAP_SIZE_BY_HEAD_KERNEL
    ):
        raise ConversionError(
            f"{where} has shape {tuple(head.shape)}, expected (C, {TRUNK_CHANNELS}, K, K) "
            f"with K in {sorted(_MAP_SIZE_BY_HEAD_KERNEL)}"
        )
    return _MAP_SIZE_BY_HEAD_KERNEL[int(head.shape[-1])]
