"""Shapely geometries -> Qt drawing primitives, many at a time.

Building a QPolygonF point by point from Python costs microseconds per vertex. Instead the
coordinates of every ring of a batch are laid out with numpy in QDataStream's wire format and
read back by Qt in one stream, a few microseconds per ring whatever its length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from PySide6.QtCore import QByteArray, QDataStream, QPointF, Qt
from PySide6.QtGui import QPainterPath, QPolygonF

_POINT = np.dtype([("x", ">f8"), ("y", ">f8")])
_POLYGON_ID = 3
_LINE_IDS = (1, 2)  # LineString, LinearRing
_POINT_ID = 0


@dataclass
class ShapeBatch:
    """Drawable parts of many objects (level-0 coordinates); `*_owner[i]` is the index of the
    object (in the geometry array) that item i belongs to."""

    polygons: list[QPolygonF]  # closed rings without holes
    polygon_owner: np.ndarray
    paths: list[QPainterPath]  # polygons with holes (odd-even fill)
    path_owner: np.ndarray
    lines: list[QPolygonF]  # open polylines
    line_owner: np.ndarray
    points: list[QPointF]
    point_owner: np.ndarray


_NONE = np.empty(0, dtype=np.int64)


def polygons_from_rings(coords: np.ndarray, ring_index: np.ndarray, count: int) -> list[QPolygonF]:
    """One QPolygonF per ring; `ring_index` gives each coordinate's ring (0..count-1, sorted)."""
    if count == 0:
        return []
    sizes = np.bincount(ring_index, minlength=count)
    points = np.empty(len(coords), dtype=_POINT)
    points["x"] = coords[:, 0]
    points["y"] = coords[:, 1]
    # Interleave [size][points...][size][points...]: insert each ring's 4-byte size in front
    # of its first point's bytes (one C-level pass).
    ring_starts = 16 * (np.cumsum(sizes) - sizes)
    headers = sizes.astype(">u4").view(np.uint8)
    raw = np.insert(points.view(np.uint8), np.repeat(ring_starts, 4), headers)
    stream = QDataStream(QByteArray(raw.tobytes()))
    out = []
    for _ in range(count):
        polygon = QPolygonF()
        stream >> polygon
        out.append(polygon)
    return out


def shapes_of(geometries: np.ndarray) -> ShapeBatch:
    """Qt shapes for an object array of geometries (parts of multi-geometries included)."""
    batch = ShapeBatch([], _NONE, [], _NONE, [], _NONE, [], _NONE)
    if len(geometries) == 0:
        return batch
    parts, part_owner = shapely.get_parts(geometries, return_index=True)
    types = shapely.get_type_id(parts)
    point_rows = np.flatnonzero(types == _POINT_ID)
    if len(point_rows):
        xy = shapely.get_coordinates(parts[point_rows])
        batch.points = [QPointF(x, y) for x, y in xy.tolist()]
        batch.point_owner = part_owner[point_rows]
    poly_rows = np.flatnonzero(types == _POLYGON_ID)
    if len(poly_rows):
        polys = parts[poly_rows]
        owners = part_owner[poly_rows]
        rings, ring_poly = shapely.get_rings(polys, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        qrings = polygons_from_rings(coords, coord_ring, len(rings))
        ring_counts = np.bincount(ring_poly, minlength=len(polys))
        if (ring_counts == 1).all():
            batch.polygons, batch.polygon_owner = qrings, owners
        else:
            firsts = np.concatenate([[0], np.cumsum(ring_counts)[:-1]]).tolist()
            simple = ring_counts == 1
            batch.polygons = [qrings[firsts[i]] for i in np.flatnonzero(simple).tolist()]
            batch.polygon_owner = owners[simple]
            holed = np.flatnonzero(ring_counts > 1)
            for i in holed.tolist():
                path = QPainterPath()
                path.setFillRule(Qt.FillRule.OddEvenFill)
                for ring in qrings[firsts[i] : firsts[i] + int(ring_counts[i])]:
                    path.addPolygon(ring)
                batch.paths.append(path)
            batch.path_owner = owners[holed]
    line_rows = np.flatnonzero(np.isin(types, _LINE_IDS))
    if len(line_rows):
        coords, coord_line = shapely.get_coordinates(parts[line_rows], return_index=True)
        batch.lines = polygons_from_rings(coords, coord_line, len(line_rows))
        batch.line_owner = part_owner[line_rows]
    return batch


def polygon_from_xy(points: list[tuple[float, float]]) -> QPolygonF:
    """A QPolygonF from a short Python list (tool previews)."""
    return QPolygonF([QPointF(x, y) for x, y in points])
