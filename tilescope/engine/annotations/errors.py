"""Errors of the annotation package: each names the file (or store) and the problem."""

from __future__ import annotations

from pathlib import Path

from tilescope.engine.errors import TilescopeError, printable


class AnnotationFormatError(TilescopeError, ValueError):
    """A file that cannot be read or written as annotations; the message says where and why."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = printable(problem)  # quotes the file's own names: keep one line
        super().__init__(f"{self.path}: {self.problem}")


class AnnotationStoreError(TilescopeError, RuntimeError):
    """The store cannot be opened or an edit was refused (e.g. a duplicate id)."""
