"""One settings object: the user's settings file, documented keys, environment overrides.

Where a value comes from, last wins: the default below, `<config_dir>/settings.yaml`, then the
environment variable `TILESCOPE_<KEY>` (upper case). Every key is declared once in `KEYS` with
its type, bounds and meaning; `tilescope about` and docs/settings.md list them from there. A bad
value never stops the program: it is reported once in the log (naming the file or variable)
and the default is used.

Per-user folders (data, config, cache, log) stay in `user_dirs`: they decide where this file
is, so they cannot live in it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tilescope.engine import user_dirs

log = logging.getLogger(__name__)

SETTINGS_NAME = "settings.yaml"
ENV_PREFIX = "TILESCOPE_"


@dataclass(frozen=True, slots=True)
class Key:
    """One documented setting."""

    name: str
    kind: type  # int, float, bool, str or list (of paths)
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    env_name: str | None = None  # when the variable predates this module

    @property
    def env(self) -> str:
        return self.env_name or ENV_PREFIX + self.name.upper()


KEYS: tuple[Key, ...] = (
    Key(
        "model_paths",
        list,
        [],
        "extra folders searched for models, before the user's and the bundled ones; "
        "the variable's folders (os.pathsep-separated) come before the file's",
        env_name="TILESCOPE_MODEL_PATH",
    ),
    Key(
        "tile_cache_mb",
        int,
        0,
        "engine tile cache in MiB; 0 = one eighth of the physical memory",
        minimum=0,
        maximum=1 << 20,
    ),
    Key(
        "view_image_cache_mb",
        int,
        192,
        "per-view cache of paint-ready tiles in MiB",
        minimum=16,
        maximum=1 << 18,
    ),
    Key(
        "memory_budget_fraction",
        float,
        0.5,
        "share of the available memory (and of `ulimit -v`) one command may allocate at once",
        minimum=0.01,
        maximum=1.0,
    ),
    Key(
        "memory_budget_mb",
        int,
        0,
        "fixed memory budget in MiB for one command; 0 = use memory_budget_fraction",
        minimum=0,
        maximum=1 << 24,
    ),
    Key(
        "inference_threads",
        int,
        0,
        "ONNX Runtime intra-op threads; 0 = the number of cores",
        minimum=0,
        maximum=1024,
    ),
    Key(
        "cpu_int8_weights",
        bool,
        True,
        "on the CPU, run the int8 weights a model folder ships (`cpu_onnx` in its manifest): "
        "faster, accuracy in the model card; false = always the float weights",
    ),
    Key(
        "store_busy_timeout_s",
        float,
        30.0,
        "how long an edit waits for another process holding the annotation store",
        minimum=0.1,
        maximum=3600,
    ),
)
KEYS_BY_NAME = {key.name: key for key in KEYS}


class Settings:
    """Resolved values, read with attribute access (`settings().tile_cache_mb`)."""

    def __init__(self, values: dict[str, Any], sources: dict[str, str]) -> None:
        self._values = values
        self._sources = sources

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no setting named {name!r}") from None

    def source(self, name: str) -> str:
        """Where a value came from: 'default', the settings file path or the env variable."""
        return self._sources[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def settings_path() -> Path:
    return user_dirs.config_dir() / SETTINGS_NAME


def _coerce(key: Key, raw: Any) -> Any:
    """The value as the key's type within its bounds, or raise ValueError saying why."""
    if key.kind is list:
        if isinstance(raw, str):
            return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]
        if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
            raise ValueError("must be a list of folders")
        return [Path(p).expanduser() for p in raw]
    if key.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ValueError("must be true or false")
    if key.kind in (int, float):
        if isinstance(raw, bool):
            raise ValueError(f"must be a number, got {raw!r}")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, got {raw!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"must be finite, got {raw!r}")
        if key.kind is int and number != int(number):
            raise ValueError(f"must be a whole number, got {raw!r}")
        if key.minimum is not None and number < key.minimum:
            raise ValueError(f"must be at least {key.minimum:g}, got {raw!r}")
        if key.maximum is not None and number > key.maximum:
            raise ValueError(f"must be at most {key.maximum:g}, got {raw!r}")
        return int(number) if key.kind is int else number
    return str(raw)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as error:
        log.warning(
            "%s: cannot read settings (%s); using defaults", path, " ".join(str(error).split())
        )
        return {}
    if not isinstance(data, dict):
        log.warning("%s: settings must be a mapping of key: value; using defaults", path)
        return {}
    for name in data:
        if name not in KEYS_BY_NAME:
            log.warning(
                "%s: unknown setting %r ignored (known: %s)", path, name, ", ".join(KEYS_BY_NAME)
            )
    return data


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Resolve every key from defaults, the file and the environment."""
    path = path or settings_path()
    env = os.environ if environ is None else environ
    from_file = _read_file(path)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        values[key.name], sources[key.name] = key.default, "default"
        for origin, raw in ((str(path), from_file.get(key.name)), (key.env, env.get(key.env))):
            if raw is None:
                continue
            try:
                value = _coerce(key, raw)
                if key.kind is list and sources[key.name] != "default":
                    value = value + values[key.name]  # folder lists add up, the variable's first
                values[key.name], sources[key.name] = value, origin
            except ValueError as error:
                log.warning(
                    "%s: setting %s %s; using %r", origin, key.name, error, values[key.name]
                )
    return Settings(values, sources)


def settings() -> Settings:
    """The settings as they are now (read afresh: a small file, and call sites are not hot)."""
    return load_settings()
