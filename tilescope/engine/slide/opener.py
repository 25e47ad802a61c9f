"""Choose a backend for a file by priority and open it (QuPath's ImageServerProvider).

Each backend says how well it handles a path (`probe`); the best is tried first and, if it
refuses the file, the next. A file OpenSlide refuses but tifffile reads still opens.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tilescope.engine.slide.errors import SlideError
from tilescope.engine.slide.source import SlideSource
from tilescope.engine.slide.tiff.integrity import is_tiff_header, tiff_truncation
from tilescope.engine.slide.tile_cache import TileCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backend:
    """A reader: `probe(path)` returns a priority (0 = cannot read), `open` makes the source."""

    name: str
    probe: Callable[[Path], float]
    open: Callable[[Path, int, TileCache | None], SlideSource]


_backends: list[Backend] = []


def register_backend(backend: Backend) -> None:
    _backends[:] = [b for b in _backends if b.name != backend.name] + [backend]


def registered_backends() -> list[Backend]:
    _load_builtin_backends()
    return list(_backends)


_builtins_loaded = False
_builtins_lock = threading.Lock()


def _load_builtin_backends() -> None:
    # Two slides opened at once from worker threads must both see every backend: the flag is
    # set only after registration, under a lock (a half-filled list once made OpenSlide read
    # an OME-TIFF that the tifffile backend was about to claim).
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _builtins_lock:
        if _builtins_loaded:
            return
        from tilescope.engine.slide.backends import register_builtin_backends

        register_builtin_backends()
        _builtins_loaded = True


def _check_file(path: Path) -> None:
    """Refuse, with the true cause, what no backend should even try: a missing, unreadable,
    empty or truncated file, and anything that is not a regular file (a FIFO would block
    every reader forever, a device could be endless)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SlideError(path, "file not found") from None
    except PermissionError:
        raise SlideError(path, "permission denied (cannot look into its folder)") from None
    except OSError as error:
        raise SlideError(path, f"cannot access it: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        if not _is_directory_format(path):
            raise SlideError(path, "is a directory, not a slide (OME-Zarr folders end in .zarr)")
        if not os.access(path, os.R_OK | os.X_OK):
            raise SlideError(path, "permission denied: cannot read the folder")
        return
    if not stat.S_ISREG(info.st_mode):
        raise SlideError(path, f"is {_kind(info.st_mode)}, not a regular file")
    if info.st_size == 0:
        raise SlideError(path, "file is empty (0 bytes)")
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except PermissionError:
        raise SlideError(path, "permission denied: cannot read the file") from None
    except OSError as error:
        raise SlideError(path, f"cannot read it: {error.strerror or error}") from None
    if is_tiff_header(head) and path.suffix.lower() not in _NO_TRUNCATION_CHECK:
        damage = tiff_truncation(path, info.st_size)
        if damage:
            kind, why = damage
            raise SlideError(path, f"file is {kind}: {why}")


#: NDPI stores offsets modulo 4 GiB: its structure cannot be checked against the file size.
_NO_TRUNCATION_CHECK = {".ndpi"}


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _is_directory_format(path: Path) -> bool:
    return (
        path.suffix.lower() == ".zarr"
        or (path / ".zattrs").exists()
        or (path / "zarr.json").exists()
    )


def open_slide(
    path: str | Path, scene: int = 0, cache: TileCache | None = None, backend: str | None = None
) -> SlideSource:
    """Open `path` with the best backend that accepts it; `SlideError` if none does."""
    path = Path(path)
    _check_file(path)
    candidates = registered_backends()
    if backend is not None:
        candidates = [b for b in candidates if b.name == backend]
        if not candidates:
            raise SlideError(path, f"unknown backend {backend!r}")
    ranked = sorted(
        ((b.probe(path), b) for b in candidates), key=lambda item: item[0], reverse=True
    )
    refusals: list[str] = []
    for priority, candidate in ranked:
        if priority <= 0:
            continue
        try:
            source = candidate.open(path, scene, cache)
            _ = source.metadata  # fail here, not on the first read
        except SlideError as error:
            refusals.append(f"{candidate.name}: {error.problem}")
            log.debug("backend %s refused %s: %s", candidate.name, path, error.problem)
            continue
        except Exception as error:  # third-party readers raise anything
            refusals.append(f"{candidate.name}: {error}")
            log.debug("backend %s refused %s: %s", candidate.name, path, error)
            continue
        return source
    if not refusals:
        raise SlideError(path, f"unsupported format (extension {path.suffix or 'none'!r})")
    raise SlideError(path, "not a readable slide or image (" + "; ".join(refusals) + ")")
