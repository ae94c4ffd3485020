"""Engine logging: one line per event to the console (stderr) and to a rotating log file."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from avpc_plugin.paths import user_state_dir

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s: %(message)s"
LOG_FILE_BYTES = 5 * 1024 * 1024
"""Rotate the log file at this size, keeping three old ones (a request storm can't fill a disk)."""


def default_log_file() -> Path:
    """``$XDG_STATE_HOME/avpc/engine.log``, by default ``~/.local/state/avpc/engine.log``."""
    return user_state_dir() / "engine.log"


def setup_logging(log_file: Path | None, level: int = logging.INFO) -> logging.Logger:
    """Send the ``avpc.engine`` logger to stderr and to ``log_file`` (created with its folder).

    Returns:
        The configured logger. Calling again replaces its handlers.

    Raises:
        OSError: the log file can't be created.
    """
    logger = logging.getLogger("avpc.engine")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_file, maxBytes=LOG_FILE_BYTES, backupCount=3, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # warnings (an input repaired, a stem clipped) go to the same log, next to their job
    logging.captureWarnings(True)
    captured = logging.getLogger("py.warnings")
    for handler in list(captured.handlers):
        captured.removeHandler(handler)
    for handler in handlers:
        captured.addHandler(handler)
    captured.propagate = False
    return logger
