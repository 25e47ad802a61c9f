"""Turning mouse traces into valid annotation geometry."""

from __future__ import annotations

import shapely
from shapely.geometry.base import BaseGeometry


def clean_area(geometry: BaseGeometry) -> BaseGeometry | None:
    """A valid polygon or multipolygon, or None when nothing with area is left.

    Self-crossing traces are repaired (bow ties become two parts) and stray lines dropped.
    """
    if geometry.is_empty:
        return None
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type == "Polygon" and p.area > 0]
    if geometry.geom_type == "GeometryCollection":
        parts = [
            q
            for p in shapely.get_parts(geometry)
            for q in shapely.get_parts(p)
            if q.geom_type == "Polygon" and q.area > 0
        ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def polygon_from_trace(points: list[tuple[float, float]], tolerance: float) -> BaseGeometry | None:
    """A clicked or dragged outline as an area; `tolerance` (level-0 px) drops jitter."""
    if len(points) < 3:
        return None
    polygon = shapely.Polygon(points)
    if tolerance > 0:
        polygon = polygon.simplify(tolerance, preserve_topology=False)
    return clean_area(polygon)


def area_shape_type(geometry: BaseGeometry) -> str:
    return "multipolygon" if geometry.geom_type == "MultiPolygon" else "polygon"
