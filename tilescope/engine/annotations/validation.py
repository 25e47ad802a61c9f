"""Checks on every value a file hands us, applied once after any reader has parsed it.

Readers build shapely geometries from finite coordinates (`formats._common`); this module
makes the rest trustworthy: text that SQLite, XML and JSON writers can encode, polygons that
are valid (repaired with ``make_valid`` and counted, never silently given area 0), and, when
the slide's size is known, nothing far outside the image (clipped, refused or kept).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.model import Annotation, ShapeType

#: Largest plausible level-0 coordinate magnitude (a 1-metre slide at 1 nm/px is 1e9 px).
MAX_COORDINATE = 1e9
#: Longest class name or object name accepted from a file.
MAX_TEXT = 1000
#: Measurement names become store columns (SQLite allows 2000 columns a table).
MAX_MEASUREMENT_NAME = 200
MAX_MEASUREMENTS = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Outside(StrEnum):
    """What to do with objects outside the slide when its size is known."""

    CLIP = "clip"
    REFUSE = "refuse"
    KEEP = "keep"


@dataclass(frozen=True)
class SlideBounds:
    """The level-0 size of the slide objects are imported into."""

    width: float
    height: float

    def box(self) -> BaseGeometry:
        return shapely.box(0, 0, self.width, self.height)


def check_text(path: str | Path, where: str, value: object) -> str | None:
    """A name from a file as text every writer can encode; refuses what it cannot fix.

    Control characters are replaced by spaces; lone surrogates (not Unicode) and very long
    names are refused, naming the object."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise AnnotationFormatError(path, f"{where}: expected text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AnnotationFormatError(
            path, f"{where}: {value[:40]!a} is not valid Unicode text (lone surrogate)"
        ) from None
    if len(value) > MAX_TEXT:
        raise AnnotationFormatError(
            path, f"{where}: text of {len(value):,} characters, more than the limit of {MAX_TEXT:,}"
        )
    return _CONTROL.sub(" ", value)


def check_measurement_name(path: str | Path, where: str, name: str) -> None:
    """Measurement names become store columns: 1-200 characters, no NUL, not "rid"."""
    if (
        not name
        or "\0" in name
        or len(name) > MAX_MEASUREMENT_NAME
        or name.lower() == "rid"
        or check_text(path, where, name) is None
    ):
        raise AnnotationFormatError(
            path,
            f"{where}: measurement name {name[:40]!a} is not usable "
            f"(1-{MAX_MEASUREMENT_NAME} characters, no NUL, not 'rid')",
        )


def check_json_value(path: str | Path, where: str, value: Any, depth: int = 0) -> Any:
    """A property value safe to store and write: NaN/Infinity become None, strings are
    checked for lone surrogates, nesting is bounded."""
    if depth > 32:
        raise AnnotationFormatError(path, f"{where}: properties nested too deeply")
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise AnnotationFormatError(
                path, f"{where}: a property is not valid Unicode text (lone surrogate)"
            ) from None
        return value
    if isinstance(value, Mapping):
        return {
            str(check_json_value(path, where, str(k), depth + 1)): check_json_value(
                path, where, v, depth + 1
            )
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [check_json_value(path, where, v, depth + 1) for v in value]
    return value


def json_safe(value: Any) -> Any:
    """A copy where every non-finite float is None (JSON has no NaN/Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """The area parts of a geometry (a make_valid result may add stray lines and points)."""
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [
        g
        for g in getattr(geometry, "geoms", [])
        if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty
    ]
    polys = [p for g in parts for p in getattr(g, "geoms", [g])]
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def repair(geometry: BaseGeometry) -> BaseGeometry:
    """A valid version of an area geometry (empty when nothing with area is left)."""
    if geometry.geom_type not in ("Polygon", "MultiPolygon") or shapely.is_valid(geometry):
        return geometry
    return polygonal(shapely.make_valid(geometry))


def _without_flat_lines(geometry: BaseGeometry) -> BaseGeometry:
    """Lines on one spot (zero length, invalid) left out of a line; all of them: a point."""
    parts = list(getattr(geometry, "geoms", [geometry]))
    kept = [part for part in parts if part.length > 0]
    if len(kept) == len(parts):
        return geometry
    if not kept:
        return shapely.Point(parts[0].coords[0])
    return kept[0] if len(kept) == 1 else shapely.MultiLineString(kept)


def shape_for(geometry: BaseGeometry, shape: ShapeType) -> ShapeType:
    """The shape type that still describes a repaired or clipped geometry."""
    if geometry.geom_type == "MultiPolygon":
        return ShapeType.MULTIPOLYGON
    if geometry.geom_type == "Point":
        return ShapeType.POINT
    if geometry.geom_type == "Polygon" and shape == ShapeType.MULTIPOLYGON:
        return ShapeType.POLYGON
    return shape


@dataclass
class Checked:
    """What `check_annotations` kept and what it did, for the one-line notes."""

    annotations: list[Annotation]
    repaired: int = 0
    degenerate: int = 0
    clipped: int = 0
    dropped_outside: int = 0

    def notes(self, bounds: SlideBounds | None) -> list[str]:
        out = []
        if self.repaired:
            text = (
                f"{self.repaired} invalid polygon(s) (self-intersecting) repaired with make_valid"
            )
            if self.degenerate:
                text += f"; {self.degenerate} without any area left out"
            out.append(text)
        elif self.degenerate:
            out.append(f"{self.degenerate} polygon(s) without any area left out")
        if bounds is not None and (self.clipped or self.dropped_outside):
            out.append(
                f"{self.clipped + self.dropped_outside} object(s) outside the "
                f"{bounds.width:g} x {bounds.height:g} slide: {self.clipped} clipped, "
                f"{self.dropped_outside} left out"
            )
        return out


def _where(index: int, annotation: Annotation) -> str:
    return f"object {index}" + (f" ({annotation.name})" if annotation.name else "")


def check_annotations(
    path: str | Path,
    annotations: list[Annotation],
    bounds: SlideBounds | None = None,
    outside: Outside | str = Outside.CLIP,
    already_repaired: int = 0,
) -> Checked:
    """Validate text and geometry of what a reader found; repair, clip or refuse.

    Raises AnnotationFormatError for what cannot be fixed (empty geometry, coordinates out of
    the plausible range, bad text, and objects outside the slide when `outside` is refuse).
    """
    outside = Outside(outside)
    result = Checked([], repaired=already_repaired)
    if not annotations:
        return result
    geometries = np.array([a.geometry for a in annotations], dtype=object)
    empty = shapely.is_empty(geometries)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise AnnotationFormatError(path, f"{_where(i, annotations[i])}: empty geometry")
    lo, hi = shapely.bounds(geometries).min(axis=0)[:2], shapely.bounds(geometries).max(axis=0)[2:]
    if not (np.isfinite([*lo, *hi]).all() and max(abs(lo).max(), abs(hi).max()) <= MAX_COORDINATE):
        boxes = shapely.bounds(geometries)
        bad = ~np.isfinite(boxes).all(axis=1) | (np.abs(boxes) > MAX_COORDINATE).any(axis=1)
        i = int(np.flatnonzero(bad)[0])
        raise AnnotationFormatError(
            path,
            f"{_where(i, annotations[i])}: coordinates beyond ±{MAX_COORDINATE:.0e} px "
            "(not a slide position)",
        )
    invalid = ~shapely.is_valid(geometries)
    areas_kind = np.isin(shapely.get_type_id(geometries), (3, 6))  # Polygon, MultiPolygon
    inside = None
    if bounds is not None:
        inside = shapely.covers(bounds.box(), geometries)
        if outside == Outside.REFUSE and not inside.all():
            n = int((~inside).sum())
            raise AnnotationFormatError(
                path,
                f"{n} object(s) reach outside the {bounds.width:g} x {bounds.height:g} slide "
                "(made for another slide?); clip them or keep them instead",
            )
    measurement_names: set[str] = set()
    for i, a in enumerate(annotations):
        where = _where(i, a)
        changes: dict[str, Any] = {}
        for field_name in ("name", "class_name"):
            value = getattr(a, field_name)
            if value is not None:
                text = check_text(path, f"{where}: {field_name.replace('_', ' ')}", value)
                if text != value:
                    changes[field_name] = text or None
        if a.properties:
            changes["properties"] = check_json_value(path, where, a.properties)
        for key in a.measurements:
            check_measurement_name(path, where, key)
            measurement_names.add(key)
        if len(measurement_names) > MAX_MEASUREMENTS:
            raise AnnotationFormatError(
                path, f"more than {MAX_MEASUREMENTS:,} different measurement names"
            )
        if a.score is not None and not math.isfinite(a.score):
            changes["score"] = None
        geometry = a.geometry
        if invalid[i]:
            geometry = repair(geometry)
            result.repaired += 1
        if geometry.geom_type in ("LineString", "MultiLineString"):
            geometry = _without_flat_lines(geometry)
        if areas_kind[i] and (geometry.is_empty or geometry.area == 0):
            result.degenerate += 1  # a polygon without area (flat, or far below a pixel)
            continue
        if inside is not None and not inside[i] and outside == Outside.CLIP:
            clipped = shapely.intersection(geometry, bounds.box())  # type: ignore[union-attr]
            if geometry.geom_type in ("Polygon", "MultiPolygon"):
                clipped = polygonal(clipped)
            if clipped.is_empty or (geometry.area > 0 and clipped.area == 0):
                result.dropped_outside += 1
                continue
            result.clipped += 1
            geometry = clipped
        if geometry is not a.geometry:
            changes["geometry"] = geometry
            changes["shape_type"] = shape_for(geometry, a.shape_type)
            if a.shape_type == ShapeType.ELLIPSE and geometry.geom_type != "Polygon":
                changes["shape_type"] = ShapeType.MULTIPOLYGON
            elif a.shape_type == ShapeType.ELLIPSE:
                changes["shape_type"] = ShapeType.POLYGON
        result.annotations.append(a.evolve(**changes) if changes else a)
    return result
