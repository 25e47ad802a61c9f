"""The one base of every error tilescope reports to a person.

A `TilescopeError`'s message is a single line that names the file, argument or store and says
what is wrong (and, where it helps, what to do next). The CLI prints it and exits 2, the GUI
shows it in a dialog and keeps running, scripts catch this one type. Anything else that
escapes is a bug: the last-resort handlers log its traceback and still show one line.

Subclasses live next to the code that raises them (`SlideError` in engine.slide,
`AnnotationFormatError` in engine.annotations, `ManifestError` in plugins, ...); the few that
several layers share are here.
"""

from __future__ import annotations

from pathlib import Path


class TilescopeError(Exception):
    """A user-facing failure whose message is one line, shown as is."""


class InputError(TilescopeError, ValueError):
    """A value handed in by the user (an argument, a setting, a field of a file) is not usable."""

    def __init__(self, what: str, problem: str) -> None:
        self.what = what
        self.problem = problem
        super().__init__(f"{what}: {problem}")


class FileProblemError(TilescopeError, OSError):
    """A file or folder cannot be read or written; the message names it and the true cause."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __str__(self) -> str:  # OSError's own __str__ would show errno fields
        return f"{self.path}: {self.problem}"


class BudgetError(TilescopeError, MemoryError):
    """An operation would need more memory than its budget allows; refused before allocating."""


def printable(text: str) -> str:
    """`text` with control characters escaped: messages quote files' own text (names, tag
    values, codec messages) and must stay one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def one_line(error: BaseException) -> str:
    """The message of any exception, folded to one line (never a traceback)."""
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())


_ERRNO_CAUSES = {
    "ENOSPC": "disk full",
    "EDQUOT": "disk quota exceeded",
    "EACCES": "permission denied",
    "EPERM": "permission denied",
    "EROFS": "read-only file system",
    "EISDIR": "is a folder, not a file",
    "ENOTDIR": "a part of the path is not a folder",
    "ENOENT": "no such file or folder",
    "EEXIST": "already exists",
    "ENAMETOOLONG": "file name too long",
    "EFBIG": "file too large for this file system",
    "EMFILE": "too many open files",
    "EIO": "input/output error (failing disk or network drive?)",
    "ELOOP": "too many symbolic links",
    "ETXTBSY": "file is busy",
    "EBUSY": "file is busy",
}


def file_problem(path: str | Path, error: OSError, doing: str = "") -> FileProblemError:
    """A FileProblemError naming `path` and the true cause of `error` (disk full, read-only...).

    `doing` says what failed ("cannot write", "cannot read"); an already converted error is
    returned as it is.
    """
    if isinstance(error, FileProblemError):
        return error
    import errno as errno_names

    name = errno_names.errorcode.get(error.errno or 0, "")
    cause = _ERRNO_CAUSES.get(name) or " ".join((error.strerror or str(error) or name).split())
    return FileProblemError(path, f"{doing}: {cause}" if doing else cause)


def as_user_error(error: BaseException) -> TilescopeError | None:
    """The TilescopeError that tells a person the true cause of `error`; None for a bug.

    Our own errors pass as they are; failures of the world (disk full, permission denied,
    out of memory) are named by their cause rather than by Python's exception type. The
    CLI's and the GUI's last-resort handlers both use this.
    """
    if isinstance(error, TilescopeError):
        return error
    if isinstance(error, OSError) and error.errno is not None:
        if error.filename is not None:
            return file_problem(str(error.filename), error)
        import errno as errno_names

        cause = _ERRNO_CAUSES.get(errno_names.errorcode.get(error.errno, ""))
        return TilescopeError(cause or one_line(error))
    if isinstance(error, MemoryError):
        detail = f" ({one_line(error)})" if str(error) else ""
        return BudgetError(
            "not enough memory (make the region or image smaller, or lower "
            f"memory_budget_fraction){detail}"
        )
    return None
