"""Annotations: immutable objects, a crash-safe SQLite store, interoperable file formats.

store = AnnotationStore.for_slide(slide_path)   # one SQLite file per slide identity
history = EditHistory(store)                     # user edits go through it: undoable
store.subscribe(on_change)                       # batched ChangeEvents after each commit
store.query_display((x0, y0, x1, y1))            # what a viewport draws
"""

from tilescope.engine.annotations.classes import AnnotationClass, default_colour
from tilescope.engine.annotations.errors import AnnotationFormatError, AnnotationStoreError
from tilescope.engine.annotations.events import ChangeEvent
from tilescope.engine.annotations.history import EditHistory
from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.annotations.store import AnnotationStore, DisplayBatch, InferenceRun

__all__ = [
    "Annotation",
    "AnnotationClass",
    "AnnotationFormatError",
    "AnnotationStore",
    "AnnotationStoreError",
    "ChangeEvent",
    "DisplayBatch",
    "EditHistory",
    "InferenceRun",
    "ObjectKind",
    "ShapeType",
    "default_colour",
]
