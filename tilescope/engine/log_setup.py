"""Logging to a rotating file in the user's log folder, so that support can ask for it.

What goes there: every failure shown to a person (with its traceback), failed opens and
imports, cancelled and failed jobs, and the library warnings kept off the terminal. A log
folder that cannot be created must never stop the program: the temporary folder is used.
"""

from __future__ import annotations

import logging
import tempfile
from logging.handlers import RotatingFileHandler
from pathlib import Path

from tilescope.engine.user_dirs import log_dir

LOG_FILE_NAME = "tilescope.log"


class _TilescopeFileLog(RotatingFileHandler):
    """The one file handler enable_file_logging installs (replaced when the folder changes)."""


def log_file_path() -> Path:
    try:
        return log_dir() / LOG_FILE_NAME
    except OSError:  # a read-only home or a bad TILESCOPE_LOG_DIR
        return Path(tempfile.gettempdir()) / f"tilescope-{LOG_FILE_NAME}"


def enable_file_logging(level: int = logging.INFO) -> Path | None:
    """Log `tilescope.*` at `level` and above to a rotating file; None when none can be written."""
    logger = logging.getLogger("tilescope")
    path = log_file_path()
    for old in [h for h in logger.handlers if isinstance(h, _TilescopeFileLog)]:
        if Path(old.baseFilename) == path.absolute():
            return path
        logger.removeHandler(old)
        old.close()
    try:
        handler = _TilescopeFileLog(
            path, maxBytes=5_000_000, backupCount=3, encoding="utf-8", errors="backslashreplace"
        )  # a file name that is not UTF-8 must not break logging
    except OSError:
        return None
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return path
