"""Logging to a rotating file in the user's log folder, so that support can ask for it."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from tilescope.engine.user_dirs import log_dir

LOG_FILE_NAME = "tilescope.log"


def log_file_path() -> Path:
    return log_dir() / LOG_FILE_NAME


def enable_file_logging(level: int = logging.INFO) -> Path | None:
    """Log `tilescope.*` to a rotating file; None when the log folder is not writable."""
    logger = logging.getLogger("tilescope")
    path = log_file_path()
    if any(isinstance(h, RotatingFileHandler) for h in logger.handlers):
        return path
    try:
        handler = RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(min(logger.level or level, level))
    return path
