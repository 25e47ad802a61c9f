"""Write export files atomically: a crash or an error never leaves half a file behind."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from tilescope.engine.annotations.errors import AnnotationFormatError


@contextlib.contextmanager
def atomic_text_writer(path: Path, newline: str | None = None) -> Iterator[TextIO]:
    """A text file that appears under `path` only once it is completely written."""
    temporary = path.with_name(f".{path.name}.part")
    try:
        handle = temporary.open("w", encoding="utf-8", newline=newline)
    except OSError as error:
        raise AnnotationFormatError(path, f"cannot write ({error.strerror})") from None
    try:
        with handle:
            yield handle
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
