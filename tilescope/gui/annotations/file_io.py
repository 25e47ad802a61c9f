"""Import and export of annotation files for a session (the menu code path, minus dialogs).

An import is read completely before anything is written and then added in one transaction
and one undo step, so a bad file changes nothing and a good one can be undone with Ctrl+Z.
"""

from __future__ import annotations

import math
from pathlib import Path

from tilescope.engine.annotations import class_list
from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.formats import (
    AnnotationFile,
    ExportOptions,
    export_store,
    read_annotations,
)
from tilescope.engine.annotations.model import new_id
from tilescope.gui.annotations.session import AnnotationSession

IMPORT_FILTER = "Annotations (*.geojson *.json *.xml);;All files (*)"  # DSA is .json too
# format name -> (menu text, file dialog filter, default suffix)
EXPORT_FORMATS: dict[str, tuple[str, str, str]] = {
    "geojson": ("GeoJSON (QuPath)…", "GeoJSON (*.geojson *.json)", ".geojson"),
    "asap": ("ASAP XML…", "ASAP XML (*.xml)", ".xml"),
    "imagescope": ("Aperio ImageScope XML…", "ImageScope XML (*.xml)", ".xml"),
    "csv": ("Measurements CSV…", "CSV (*.csv)", ".csv"),
    "dsa": ("DSA / HistomicsTK JSON…", "DSA annotation JSON (*.json)", ".json"),
    "coco": ("COCO Instances JSON…", "COCO JSON (*.json)", ".json"),
    "labels": ("Label Mask (TIFF)…", "Label mask (*.tif *.tiff)", ".tif"),
    "tables": ("Table Grids (CSV + HTML)…", "", ""),  # a folder: one pair per table
}
#: Largest label mask the GUI writes without asking (pixels); larger slides are downsampled.
MAX_GUI_MASK_PIXELS = 1 << 28


def import_annotations(
    session: AnnotationSession, path: str | Path, bounds: tuple[float, float] | None = None
) -> int:
    """Add every object of a QuPath GeoJSON / ASAP / ImageScope / DSA file (format sniffed);
    with the slide's `bounds` (width, height) objects outside it are clipped.

    Raises AnnotationFormatError (naming the file and the problem) without touching the
    store. Returns how many objects were added.
    """
    return add_imported(session, path, read_annotations(path, bounds=bounds))


def add_imported(session: AnnotationSession, path: str | Path, found: AnnotationFile) -> int:
    """Add what `read_annotations` found (the slow part, which may run in a worker thread)
    as one transaction and one undo step."""
    store = session.store
    present = store.existing_ids(a.id for a in found.annotations)
    items = [a.evolve(id=new_id()) if a.id in present else a for a in found.annotations]
    known = {c.name for c in store.classes()}
    with session.history.group(f"Import {Path(path).name}"):
        for name, colour in found.class_colours.items():
            if name not in known:  # the user's colour for a known name wins (one per name)
                store.set_class(name, class_list.colour_for(name, colour))
        if items:
            session.history.add(items, "Import")
    return len(items)


def export_annotations(
    session: AnnotationSession,
    path: str | Path,
    format: str,
    size: tuple[int, int] | None = None,
    image_file_name: str = "",
) -> list[str]:
    """Write every object of the session's store; returns notes on what the format drops.

    `size` is the slide's level-0 (width, height): the COCO image and the label mask size.
    A mask of a large slide is downsampled by a power of two to stay within
    MAX_GUI_MASK_PIXELS (said in the notes)."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}")
    if format == "tables":
        return export_tables(session, path, Path(image_file_name or "tables").stem)
    downsample = 1.0
    notes: list[str] = []
    if format == "labels" and size is not None:
        while size[0] * size[1] / downsample**2 > MAX_GUI_MASK_PIXELS:
            downsample *= 2
        if downsample > 1:
            notes.append(f"mask downsampled {downsample:g}x to stay a manageable size")
    mpp = math.sqrt(session.mpp[0] * session.mpp[1]) if session.mpp else None
    options = ExportOptions(
        mpp=mpp,
        size=size,
        labels="instance",
        downsample=downsample,
        image_file_name=image_file_name,
    )
    with session.using() as store:  # may run in a worker thread
        return notes + export_store(store, path, format, options=options)


def export_tables(session: AnnotationSession, folder: str | Path, stem: str) -> list[str]:
    """The CSV and HTML cell grid of every table found by a table model with structure."""
    from tilescope.plugins.table_detection.export import write_table_files

    with session.using() as store:
        cells = store.query(classes=["Cell"], include_hidden_runs=True)
    try:
        written = write_table_files(cells, Path(folder), stem)
    except ValueError as error:
        raise AnnotationFormatError(folder, str(error)) from None
    except OSError as error:
        raise AnnotationFormatError(folder, f"cannot write ({error.strerror})") from None
    if not written:
        raise AnnotationFormatError(
            folder, "no table cells on this slide (run a table model with structure first)"
        )
    return [f"{len(written) // 2} table(s) as CSV and HTML"]
