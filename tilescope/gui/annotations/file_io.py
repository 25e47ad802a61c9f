"""Import and export of annotation files for a session (the menu code path, minus dialogs).

An import is read completely before anything is written and then added in one transaction
and one undo step, so a bad file changes nothing and a good one can be undone with Ctrl+Z.
"""

from __future__ import annotations

from pathlib import Path

from tilescope.engine.annotations import class_list
from tilescope.engine.annotations.formats import AnnotationFile, export_store, read_annotations
from tilescope.engine.annotations.model import new_id
from tilescope.gui.annotations.session import AnnotationSession

IMPORT_FILTER = "Annotations (*.geojson *.json *.xml);;All files (*)"
# format name -> (menu text, file dialog filter, default suffix)
EXPORT_FORMATS: dict[str, tuple[str, str, str]] = {
    "geojson": ("GeoJSON (QuPath)…", "GeoJSON (*.geojson *.json)", ".geojson"),
    "asap": ("ASAP XML…", "ASAP XML (*.xml)", ".xml"),
    "imagescope": ("Aperio ImageScope XML…", "ImageScope XML (*.xml)", ".xml"),
    "csv": ("Measurements CSV…", "CSV (*.csv)", ".csv"),
}


def import_annotations(session: AnnotationSession, path: str | Path) -> int:
    """Add every object of a QuPath GeoJSON / ASAP / ImageScope file (format sniffed).

    Raises AnnotationFormatError (naming the file and the problem) without touching the
    store. Returns how many objects were added.
    """
    return add_imported(session, path, read_annotations(path))


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


def export_annotations(session: AnnotationSession, path: str | Path, format: str) -> list[str]:
    """Write every object of the session's store; returns notes on what the format drops."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}")
    with session.using() as store:  # may run in a worker thread
        return export_store(store, path, format)
