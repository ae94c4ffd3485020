"""Self-describing checkpoints and the model registry.

``save_checkpoint`` / ``load_checkpoint`` write and read one-file checkpoints named
``<name>-<sha8>.pt``; ``list_models`` / ``load_model`` find verified checkpoints by name through the
``index.json`` files on the model search path (see ``registry``); ``convert_reference_state_dicts``
turns the reference implementation's state dicts into an ``"avpc"`` config and state dict.
"""

from avpc_plugin.checkpoints.convert import ConversionError, convert_reference_state_dicts
from avpc_plugin.checkpoints.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    CheckpointError,
    CheckpointMetadata,
    LoadedCheckpoint,
    build_model,
    count_parameters,
    load_checkpoint,
    read_checkpoint_metadata,
    read_state_dict_file,
    save_checkpoint,
    sha256_file,
)
from avpc_plugin.checkpoints.registry import (
    ModelEntry,
    RegistryError,
    default_model,
    find_model,
    index_search_path,
    list_models,
    load_model,
    lookup_model,
    register_model,
    resolve_model,
    user_models_dir,
    verify_model,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CheckpointError",
    "CheckpointMetadata",
    "ConversionError",
    "LoadedCheckpoint",
    "ModelEntry",
    "RegistryError",
    "build_model",
    "convert_reference_state_dicts",
    "count_parameters",
    "default_model",
    "find_model",
    "index_search_path",
    "list_models",
    "load_checkpoint",
    "load_model",
    "lookup_model",
    "read_checkpoint_metadata",
    "read_state_dict_file",
    "register_model",
    "resolve_model",
    "save_checkpoint",
    "sha256_file",
    "user_models_dir",
    "verify_model",
]
