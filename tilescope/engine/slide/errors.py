"""Errors raised by slide readers: each names the file and says what is wrong."""

from __future__ import annotations

from pathlib import Path

from tilescope.engine.errors import TilescopeError, printable


class SlideError(TilescopeError):
    """A slide could not be opened or read.

    The message always names the file, so that a GUI dialog or a CLI line can show it as is.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        # Problems quote the file's own text (tag values, codec messages): control
        # characters in it are escaped so the message stays one line.
        self.problem = printable(problem)
        super().__init__(f"{self.path}: {self.problem}")
