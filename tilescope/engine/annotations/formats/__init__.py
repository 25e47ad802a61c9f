"""Annotation file formats: QuPath GeoJSON, ASAP XML, Aperio ImageScope XML (read and write),
measurements CSV, label masks and COCO (export only).

`read_annotations` sniffs the format from the file's content; `write_annotations` picks it
from the name unless told. `import_file` loads a file into a store in one transaction, so a
failed import leaves the store untouched.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType

from shapely.errors import GEOSException

from tilescope.engine.annotations import class_list
from tilescope.engine.annotations.classes import Colour
from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.formats import asap, csv_export, dsa, geojson, imagescope
from tilescope.engine.annotations.formats._common import (
    DEFAULT_LIMITS,
    AnnotationFile,
    Limits,
)
from tilescope.engine.annotations.formats.export import EXPORT_FORMATS, ExportOptions
from tilescope.engine.annotations.model import Annotation
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.annotations.validation import (
    Outside,
    SlideBounds,
    check_annotations,
    check_text,
)
from tilescope.engine.errors import one_line

log = logging.getLogger(__name__)

READERS: dict[str, ModuleType] = {
    geojson.FORMAT: geojson,
    asap.FORMAT: asap,
    imagescope.FORMAT: imagescope,
    dsa.FORMAT: dsa,
}
WRITERS: dict[str, ModuleType] = {**READERS, csv_export.FORMAT: csv_export}
_BY_EXTENSION = {".geojson": "geojson", ".json": "geojson", ".xml": "asap", ".csv": "csv"}

__all__ = [
    "EXPORT_FORMATS",
    "READERS",
    "WRITERS",
    "AnnotationFile",
    "ExportOptions",
    "Limits",
    "Outside",
    "SlideBounds",
    "export_store",
    "format_for_path",
    "import_file",
    "read_annotations",
    "sniff_format",
    "write_annotations",
]


def sniff_format(path: str | Path) -> str:
    """The format of an existing file, from its first bytes (never from its name)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            head = handle.read(4096)
    except OSError as error:
        raise AnnotationFormatError(file, f"cannot read the file ({error.strerror})") from None
    if not head.strip():
        raise AnnotationFormatError(file, "the file is empty")
    for name in ("asap", "imagescope", "dsa", "geojson"):
        if READERS[name].sniff(head):
            return name
    raise AnnotationFormatError(
        file, "not a known annotation format (QuPath GeoJSON, ASAP XML, ImageScope XML or DSA JSON)"
    )


def format_for_path(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _BY_EXTENSION:
        raise AnnotationFormatError(
            path, "cannot tell the output format from the extension; name one (--to)"
        )
    return _BY_EXTENSION[suffix]


def read_annotations(
    path: str | Path,
    format: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    *,
    bounds: SlideBounds | tuple[float, float] | None = None,
    outside: Outside | str = Outside.CLIP,
) -> AnnotationFile:
    """Read and validate a file (see `validation`): invalid polygons are repaired and
    counted in one note; with the slide's `bounds` (width, height) objects outside it are
    clipped, refused or kept as `outside` says."""
    file = Path(path)
    name = format or sniff_format(file)
    if name not in READERS:
        raise AnnotationFormatError(file, f"cannot read format {name!r}")
    try:
        found: AnnotationFile = READERS[name].read(file, limits)
    except RecursionError:
        raise AnnotationFormatError(file, "nested too deeply") from None
    except (TypeError, ValueError, KeyError, AttributeError, GEOSException) as error:
        if isinstance(error, AnnotationFormatError):
            raise
        # A shape of content no check above foresaw: still one line, traceback in the log.
        log.warning("reading %s failed", file, exc_info=True)
        raise AnnotationFormatError(
            file, f"unexpected content for {name} ({type(error).__name__}: {one_line(error)})"
        ) from None
    if isinstance(bounds, tuple):
        bounds = SlideBounds(*bounds)
    checked = check_annotations(file, found.annotations, bounds, outside, found.repaired)
    found.annotations = checked.annotations
    found.repaired = checked.repaired
    found.notes.extend(checked.notes(bounds))
    found.class_colours = {
        n: c for n, c in found.class_colours.items() if check_text(file, "class name", n)
    }
    return found


def write_annotations(
    annotations: Iterable[Annotation],
    path: str | Path,
    format: str | None = None,
    *,
    class_colours: Mapping[str, Colour] | None = None,
    mpp: float | None = None,
    progress: Progress | None = None,
) -> list[str]:
    """Write a file atomically; returns notes about what the format could not keep.

    `progress(n_written)` is called every 10,000 objects; returning False cancels the export
    (AnnotationFormatError "cancelled", and no file is left behind).
    """
    file = Path(path)
    name = format or format_for_path(file)
    if name not in WRITERS:
        raise AnnotationFormatError(file, f"cannot write format {name!r}")
    items = annotations if progress is None else _reporting(annotations, progress, file)
    return WRITERS[name].write(items, file, dict(class_colours or {}), mpp)


Progress = Callable[[int], "bool | None"]


def _reporting(items: Iterable[Annotation], progress: Progress, path: Path) -> Iterator[Annotation]:
    count = 0
    for item in items:
        yield item
        count += 1
        if count % 10_000 == 0 and progress(count) is False:
            raise AnnotationFormatError(path, "export cancelled")
    progress(count)


def import_file(
    store: AnnotationStore,
    path: str | Path,
    format: str | None = None,
    *,
    bounds: SlideBounds | tuple[float, float] | None = None,
    outside: Outside | str = Outside.CLIP,
) -> AnnotationFile:
    """Read a file and add everything to `store` in one transaction (all or nothing).

    Objects whose id is already in the store get a new id, so importing twice duplicates
    rather than fails. Class colours from the file are kept for classes new to the store.
    """
    found = read_annotations(path, format, bounds=bounds, outside=outside)
    known = {c.name for c in store.classes()}
    present = store.existing_ids(a.id for a in found.annotations)
    items = [a.evolve(id=_fresh_id()) if a.id in present else a for a in found.annotations]
    with store.transaction():
        for name, colour in found.class_colours.items():
            if name not in known:  # the user's colour for a known name wins (one per name)
                store.set_class(name, class_list.colour_for(name, colour))
        store.add_many(items)
    found.annotations = items
    return found


def export_store(
    store: AnnotationStore,
    path: str | Path,
    format: str | None = None,
    progress: Progress | None = None,
    *,
    options: ExportOptions | None = None,
    **filters: object,
) -> list[str]:
    """Write every object of the store (or those matching `query` filters) to a file in any
    export format (COCO and label masks too). The store's class colours and pixel size are
    used unless `options` names others."""
    from dataclasses import replace

    from tilescope.engine.annotations.formats.export import export_annotations

    objects: Iterable[Annotation] = (
        store.query(**filters) if filters else store.iter_all()  # type: ignore[arg-type]
    )
    opts = options or ExportOptions()
    if opts.class_colours is None:
        opts = replace(opts, class_colours={c.name: c.colour for c in store.classes()})
    if opts.mpp is None:
        # The size a user set for the slide (engine.pixel_size's key), else an older "mpp".
        mpp_text = store.get_metadata("pixel_size_um") or store.get_metadata("mpp")
        with contextlib.suppress(ValueError):  # unreadable: export without a pixel size
            opts = replace(opts, mpp=float(mpp_text) if mpp_text else None)
    return export_annotations(objects, path, format, opts, progress)


def _fresh_id() -> str:
    from tilescope.engine.annotations.model import new_id

    return new_id()
