"""The user's class list: one colour per class name on every slide (QuPath's project classes).

Kept in ``<config_dir>/classes.json`` as ``[{"name": ..., "colour": [r, g, b]}, ...]``. On first
start it holds QuPath's default classes with QuPath's colours. A class a store meets for the
first time is added with its default (or the suggested) colour, so the next slide shows the
same name in the same colour. An unreadable file is never overwritten: the defaults are used
for this session and a warning is logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path

from tilescope.engine.annotations.classes import (
    DEFAULT_CLASS_COLOURS,
    AnnotationClass,
    Colour,
    check_colour,
    default_colour,
)

log = logging.getLogger(__name__)

FILE_NAME = "classes.json"
#: QuPath's default class list, in QuPath's order.
QUPATH_DEFAULTS = (
    "Tumor",
    "Stroma",
    "Immune cells",
    "Necrosis",
    "Other",
    "Region*",
    "Ignore*",
    "Positive",
    "Negative",
)
_lock = threading.Lock()
_cache: dict[Path, tuple[float, dict[str, Colour], bool]] = {}


def list_path() -> Path:
    from tilescope.engine.user_dirs import config_dir

    return config_dir() / FILE_NAME


def _defaults() -> dict[str, Colour]:
    return {name: DEFAULT_CLASS_COLOURS[name] for name in QUPATH_DEFAULTS}


def _parse(path: Path, text: str) -> dict[str, Colour]:
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("expected a list of classes")
    out: dict[str, Colour] = {}
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError("each class needs a name")
        name = entry["name"].strip()
        if name:
            out[name] = check_colour(entry.get("colour"))
    return out


def _load(path: Path) -> tuple[dict[str, Colour], bool]:
    """The classes and whether the file may be written (False after a read failure)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return _defaults(), True
    cached = _cache.get(path)
    if cached is not None and cached[0] == mtime:
        return dict(cached[1]), cached[2]
    try:
        classes, writable = _parse(path, path.read_text(encoding="utf-8")), True
    except (OSError, ValueError, UnicodeDecodeError) as error:
        log.warning("%s: class list not readable (%s); using QuPath's defaults", path, error)
        classes, writable = _defaults(), False
    _cache[path] = (mtime, classes, writable)
    return dict(classes), writable


def _save(path: Path, classes: dict[str, Colour]) -> None:
    text = json.dumps([{"name": n, "colour": list(c)} for n, c in classes.items()], indent=1)
    # A name of its own per writer: batch workers may learn classes at the same moment.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        temporary.write_text(text + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:  # a read-only config folder: colours still work for this run
        log.warning("%s: cannot save the class list (%s)", path, error.strerror)
        with contextlib.suppress(OSError):
            temporary.unlink()
        return
    _cache.pop(path, None)


def classes() -> list[AnnotationClass]:
    """The user's classes in their order (QuPath's defaults on first start, then saved)."""
    with _lock:
        path = list_path()
        found, writable = _load(path)
        if writable and not path.exists():
            _save(path, found)
    return [AnnotationClass(n, c) for n, c in found.items()]


def known_colour(name: str) -> Colour | None:
    with _lock:
        return _load(list_path())[0].get(name)


def colour_for(name: str | None, suggested: Colour | None = None) -> Colour:
    """The colour of a class on every slide; a new name is added to the list (with
    `suggested`, else its default colour)."""
    if name is None:
        return default_colour(None)
    with _lock:
        path = list_path()
        found, writable = _load(path)
        if name in found:
            return found[name]
        colour = check_colour(suggested) if suggested is not None else default_colour(name)
        if writable:
            found[name] = colour
            _save(path, found)
        return colour


def set_colour(name: str, colour: Colour) -> None:
    """Change (or add) a class's colour for every slide."""
    with _lock:
        path = list_path()
        found, writable = _load(path)
        found[name] = check_colour(colour)
        if writable:
            _save(path, found)


def rename(old: str, new: str) -> None:
    with _lock:
        path = list_path()
        found, writable = _load(path)
        if old in found and new not in found and writable:
            found = {new if n == old else n: c for n, c in found.items()}
            _save(path, found)


def remove(name: str) -> None:
    with _lock:
        path = list_path()
        found, writable = _load(path)
        if found.pop(name, None) is not None and writable:
            _save(path, found)
