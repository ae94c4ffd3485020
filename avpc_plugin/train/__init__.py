"""Training: TOML configs, mix-and-separate and RCoP objectives, the loop, distributed helpers."""

from avpc_plugin.train.config import ConfigError, TrainConfig, config_from_dict, load_config
from avpc_plugin.train.trainer import Trainer, TrainingError, lr_drop_epochs

__all__ = [
    "ConfigError",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "config_from_dict",
    "load_config",
    "lr_drop_epochs",
]
