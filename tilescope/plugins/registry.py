"""Model types by name, found through the entry-point group ``tilescope.model_types``.

Built-in types are declared in tilescope's own pyproject.toml under the same group, so a
third-party package adds a type exactly as tilescope does (docs/plugins.md). A type whose
import fails is reported (`load_errors`) rather than breaking the others.
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points

from tilescope.engine.errors import TilescopeError
from tilescope.plugins.base import ModelType

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tilescope.model_types"

_types: dict[str, type[ModelType]] = {}
_errors: dict[str, str] = {}
_loaded = False
_lock = threading.Lock()


class UnknownModelTypeError(TilescopeError, KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"unknown model type {name!r} (installed: {', '.join(known) or 'none'})")

    def __str__(self) -> str:
        return str(self.args[0])


def register_type(cls: type[ModelType], name: str | None = None) -> None:
    """Add a type by hand (tests, scripts); entry points are the normal way."""
    if not (isinstance(cls, type) and issubclass(cls, ModelType)):
        raise TypeError(f"{cls!r} is not a ModelType subclass")
    with _lock:
        _types[name or cls.type_name] = cls


def _load_entry_points() -> None:
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _types:
                continue
            try:
                cls = ep.load()
            except Exception as error:  # a broken plugin must not break the others
                _errors[ep.name] = f"cannot import {ep.value}: {error}"
                log.warning("model type %s: %s", ep.name, _errors[ep.name])
                continue
            if not (isinstance(cls, type) and issubclass(cls, ModelType)):
                _errors[ep.name] = f"{ep.value} is not a tilescope ModelType subclass"
                continue
            if getattr(cls, "type_name", ep.name) != ep.name:
                _errors[ep.name] = f"{ep.value}.type_name is {cls.type_name!r}, not {ep.name!r}"
                continue
            _types[ep.name] = cls


def reload() -> None:
    """Forget what was found and look at the entry points again (after installing a plugin)."""
    global _loaded
    with _lock:
        _loaded = False
        _types.clear()
        _errors.clear()
    _load_entry_points()


def model_types() -> dict[str, type[ModelType]]:
    _load_entry_points()
    return dict(_types)


def load_errors() -> dict[str, str]:
    _load_entry_points()
    return dict(_errors)


def get_type(name: str) -> type[ModelType]:
    types = model_types()
    if name not in types:
        hint = f"; {load_errors()[name]}" if name in load_errors() else ""
        error = UnknownModelTypeError(name, sorted(types))
        if hint:
            error.args = (error.args[0] + hint,)
        raise error
    return types[name]
