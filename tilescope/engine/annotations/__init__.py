"""Annotations: immutable objects, a crash-safe SQLite store, interoperable file formats."""

from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType

__all__ = ["Annotation", "ObjectKind", "ShapeType"]
