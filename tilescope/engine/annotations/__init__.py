"""Annotations: immutable objects, a crash-safe SQLite store, interoperable file formats."""

from tilescope.engine.annotations.classes import AnnotationClass, default_colour
from tilescope.engine.annotations.errors import AnnotationFormatError, AnnotationStoreError
from tilescope.engine.annotations.events import ChangeEvent
from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType

__all__ = [
    "Annotation",
    "AnnotationClass",
    "AnnotationFormatError",
    "AnnotationStoreError",
    "ChangeEvent",
    "ObjectKind",
    "ShapeType",
    "default_colour",
]
