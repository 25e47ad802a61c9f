"""Output files: checked before any work is done, written whole or not at all.

A region or screenshot that takes a minute must not fail at the end because `-o` names a
folder, a read-only place or an extension nobody can write; and a full disk must leave no half
file that looks like a result. Every failure is a FileProblemError with the true cause.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from tilescope.engine.errors import FileProblemError, file_problem


def suffix_of(path: Path, known: Sequence[str]) -> str | None:
    """The known extension `path` ends with (longest first: '.ome.tif' before '.tif')."""
    name = path.name.lower()
    for ext in sorted(known, key=len, reverse=True):
        if name.endswith(ext) and len(name) > len(ext):
            return ext
    return None


def _nearest_existing(path: Path) -> Path:
    for candidate in [path, *path.parents]:
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def check_output_path(path: str | Path, extensions: Sequence[str] | None) -> Path:
    """`path` as a Path when a file of a known type can be written there, else one line why.

    `extensions` None accepts any name (the format does not follow from it).
    """
    path = Path(path).expanduser()
    if not str(path) or path.name in ("", ".", ".."):
        raise FileProblemError(path, "is not a file name")
    if os.path.lexists(path):
        mode = path.stat().st_mode if path.exists() else 0
        if stat.S_ISDIR(mode):
            raise FileProblemError(path, "is a folder; give a file name (such as out.png)")
        if not stat.S_ISREG(mode):
            raise FileProblemError(path, "is not a regular file (a device, pipe or broken link)")
    if extensions is not None and suffix_of(path, extensions) is None:
        raise FileProblemError(
            path,
            f"unknown output extension {path.suffix or '(none)'!r} (use {', '.join(extensions)})",
        )
    folder = _nearest_existing(path.parent)
    if not folder.is_dir():
        raise FileProblemError(path, f"{folder} is not a folder")
    if _read_only_fs(folder):
        raise FileProblemError(path, "cannot write: read-only file system")
    _probe_write(path)
    return path


def _probe_write(path: Path) -> None:
    """Create the folder and a scratch file beside `path`: the only true test (root passes
    every access() check, a read-only mount or a quota only shows when writing)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = file_problem(path.parent, error).problem
        raise FileProblemError(
            path, f"cannot create the folder {path.parent}: {problem}"
        ) from error
    probe = path.with_name(f".{os.getpid()}.probe.{path.name}")
    try:
        with open(probe, "xb"):
            pass
    except OSError as error:
        raise file_problem(path, error, "cannot write") from error
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
    if path.exists() and not os.access(path, os.W_OK):
        raise FileProblemError(path, "cannot write: permission denied")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` (same extension) that becomes `path` once written.

    Any OSError (disk full, permission denied, ...) becomes a FileProblemError naming `path`;
    the temporary file is removed, an older `path` stays as it was.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise file_problem(path.parent, error, "cannot create the folder") from error
    temporary = path.with_name(f".{os.getpid()}.partial.{path.name}")
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        raise file_problem(path, error, "cannot write") from error
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole (flushed to disk) or not at all."""
    with atomic_output(path) as temporary, open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
