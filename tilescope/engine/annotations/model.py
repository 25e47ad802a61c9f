"""The annotation object: an immutable value with a shapely geometry in level-0 pixels.

Coordinates follow QuPath's pixel-corner convention: pixel (i, j) covers [i, i+1) x [j, j+1).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from shapely.geometry.base import BaseGeometry


class ObjectKind(StrEnum):
    """Drawn by a person, or produced by a model (QuPath's annotation/detection split)."""

    ANNOTATION = "annotation"
    DETECTION = "detection"


class ShapeType(StrEnum):
    """How the object was drawn; rectangles and ellipses keep their polygon as geometry."""

    POINT = "point"
    POINTS = "points"
    LINE = "line"
    POLYGON = "polygon"
    MULTIPOLYGON = "multipolygon"
    RECTANGLE = "rectangle"
    ELLIPSE = "ellipse"


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Annotation:
    """One object on a slide. Change it with `evolve`, which returns a new value."""

    geometry: BaseGeometry
    shape_type: ShapeType = ShapeType.POLYGON
    class_name: str | None = None
    kind: ObjectKind = ObjectKind.ANNOTATION
    name: str | None = None
    score: float | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    measurements: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None  # the inference run that produced a detection
    id: str = field(default_factory=new_id)

    def evolve(self, **changes: Any) -> Annotation:
        """A copy with some fields changed (same id unless `id` is given)."""
        return replace(self, **changes)
