"""Per-user folders (platformdirs), each overridable by an environment variable.

TILESCOPE_DATA_DIR (annotation stores, user models), TILESCOPE_CONFIG_DIR (settings),
TILESCOPE_CACHE_DIR, TILESCOPE_LOG_DIR. Tests and portable installs set them.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "tilescope"


def _dir(env: str, default: str) -> Path:
    path = Path(os.environ.get(env) or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    return _dir("TILESCOPE_DATA_DIR", platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return _dir("TILESCOPE_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    return _dir("TILESCOPE_CACHE_DIR", platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    return _dir("TILESCOPE_LOG_DIR", platformdirs.user_log_dir(APP_NAME, appauthor=False))


def annotation_store_dir() -> Path:
    path = data_dir() / "annotations"
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_models_dir() -> Path:
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
