"""SQLite failures told as the store's true cause, in one line naming the store file.

SQLite reports disk full, a lock held too long, a read-only file and a damaged file as
``sqlite3`` exceptions whose text hides the cause (a failed ROLLBACK after SQLITE_FULL says
"no transaction is active"). The store turns every one into an `AnnotationStoreError` at its
boundary, with `store_error`, applied to every public method by `translate_sqlite_errors`.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tilescope.engine.annotations.errors import AnnotationStoreError
from tilescope.engine.errors import one_line
from tilescope.engine.settings import settings

log = logging.getLogger(__name__)

# SQLite's primary result codes (the low byte of an extended code).
_BUSY, _LOCKED, _NOMEM, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = (
    5,
    6,
    7,
    8,
    10,
    11,
    13,
    14,
    26,
)
READ_ONLY = "read-only: opened for viewing only"


def sqlite_code(error: sqlite3.Error) -> int | None:
    """The primary SQLite result code of `error` (None when SQLite gave none)."""
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def cause(error: sqlite3.Error, *, read_only: bool = False) -> str:
    """The true cause of `error`, as the store's message says it."""
    code, said = sqlite_code(error), one_line(error)
    if code == _FULL or "disk is full" in said:
        return "disk full: the last edit was not saved"
    if code in (_BUSY, _LOCKED) or "database is locked" in said:
        timeout = float(settings().store_busy_timeout_s)
        return (
            f"locked by another program for more than {timeout:g} s "
            "(settings: store_busy_timeout_s)"
        )
    if code == _READONLY or read_only:
        return f"{READ_ONLY} (the edit was not made)"
    if code in (_NOTADB, _CORRUPT):
        return f"not an annotation store / damaged (SQLite says {said})"
    if code == _CANTOPEN:
        return f"cannot open the file (SQLite says {said})"
    if code == _IOERR:
        return f"input/output error, the last edit was not saved (SQLite says {said})"
    if code == _NOMEM:
        return f"out of memory (SQLite says {said})"
    return f"SQLite error: {said}"


def store_error(path: str | Path, error: sqlite3.Error, *, read_only: bool = False) -> Exception:
    """An `AnnotationStoreError` naming `path` and the true cause of `error`."""
    log.debug("%s: %r", path, error, exc_info=error)
    return AnnotationStoreError(f"{path}: {cause(error, read_only=read_only)}")


T = TypeVar("T")


def _function(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise store_error(self.path, error) from error

    return wrapper


def _generator(method: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise store_error(self.path, error) from error

    return wrapper


def translate_sqlite_errors(cls: type[T]) -> type[T]:
    """Wrap every public method and property of `cls` (which has a `path`) so a sqlite3
    error leaving it becomes an `AnnotationStoreError` with the true cause.

    Methods named in `cls._translates_itself` (context managers) do it themselves."""
    own = set(getattr(cls, "_translates_itself", ()))
    for name, value in list(vars(cls).items()):
        if (name.startswith("_") and name != "__len__") or name in own:
            continue
        if isinstance(value, property) and value.fget is not None:
            setattr(cls, name, property(_function(value.fget), value.fset, value.fdel))
        elif inspect.isgeneratorfunction(value):
            setattr(cls, name, _generator(value))
        elif inspect.isfunction(value):
            setattr(cls, name, _function(value))
    return cls
