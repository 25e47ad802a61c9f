"""Shape features of many polygons at once, from their vertices (exact polygon moments).

Area, perimeter, circularity (4 pi A / P^2), solidity (A / convex hull area), and the ellipse
with the same second moments (major and minor axis, eccentricity) - the definitions of
scikit-image's regionprops, but computed on the polygon itself with Green's theorem, one
`np.bincount` per moment for all objects together. Lengths are in um (areas in um^2) when the
pixel size is known, and the column name says which: ``area_um2`` or ``area_px2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.engine.analysis.geometry_arrays import ring_edges
from tilescope.engine.annotations.measurements import Mpp, mpp_pair

SHAPE_FEATURES = (
    "area",
    "perimeter",
    "circularity",
    "solidity",
    "eccentricity",
    "major_axis",
    "minor_axis",
)


def shape_column_names(calibrated: bool) -> list[str]:
    """Column names with their unit: ``area_um2``/``area_px2``, ``perimeter_um``/``_px``..."""
    length, area = ("um", "um2") if calibrated else ("px", "px2")
    units = {"area": area, "perimeter": length, "major_axis": length, "minor_axis": length}
    return [f"{name}_{units[name]}" if name in units else name for name in SHAPE_FEATURES]


def shape_features(
    geometries: Sequence[BaseGeometry] | np.ndarray, mpp: Mpp = None
) -> dict[str, np.ndarray]:
    """One float64 array per feature (NaN where undefined: points, lines, empty shapes)."""
    geoms = np.empty(len(geometries), dtype=object)
    geoms[:] = list(geometries)
    n = len(geoms)
    pair = mpp_pair(mpp)
    sx, sy = pair if pair is not None else (1.0, 1.0)
    edges = ring_edges(geoms)
    # Moments about each object's own corner keep float64 exact on slides 100k px wide.
    origin = shapely.bounds(geoms)[:, :2] if n else np.zeros((0, 2))
    ox, oy = origin[edges.geometry, 0], origin[edges.geometry, 1]
    x0, y0 = (edges.x0 - ox) * sx, (edges.y0 - oy) * sy
    x1, y1 = (edges.x1 - ox) * sx, (edges.y1 - oy) * sy
    cross = x0 * y1 - x1 * y0
    # Exterior rings count positive and holes negative, whatever their winding.
    ring_area = np.bincount(edges.ring, cross, minlength=int(edges.ring.max(initial=-1)) + 1)
    sign = np.sign(ring_area)[edges.ring] * np.where(edges.hole, -1.0, 1.0)
    weighted = cross * sign

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(edges.geometry, values, minlength=n)

    area = total(weighted) / 2
    sum_x = total((x0 + x1) * weighted) / 6
    sum_y = total((y0 + y1) * weighted) / 6
    sum_xx = total((x0 * x0 + x0 * x1 + x1 * x1) * weighted) / 12
    sum_yy = total((y0 * y0 + y0 * y1 + y1 * y1) * weighted) / 12
    sum_xy = total((x0 * y1 + 2 * x0 * y0 + 2 * x1 * y1 + x1 * y0) * weighted) / 24
    perimeter = total(np.hypot(x1 - x0, y1 - y0))
    with np.errstate(invalid="ignore", divide="ignore"):
        has_area = area > 0
        safe = np.where(has_area, area, np.nan)
        cx, cy = sum_x / safe, sum_y / safe
        mu20 = sum_xx / safe - cx * cx
        mu02 = sum_yy / safe - cy * cy
        mu11 = sum_xy / safe - cx * cy
        half_sum = (mu20 + mu02) / 2
        root = np.sqrt(((mu20 - mu02) / 2) ** 2 + mu11**2)
        big = np.maximum(half_sum + root, 0)
        small = np.maximum(half_sum - root, 0)
        hull_area = shapely.area(shapely.convex_hull(geoms)) * sx * sy
        values = {
            "area": np.where(has_area, area, np.nan),
            "perimeter": np.where(has_area, perimeter, np.nan),
            "circularity": 4 * np.pi * safe / perimeter**2,
            "solidity": safe / hull_area,
            "eccentricity": np.sqrt(np.clip(1 - small / big, 0, 1)),
            "major_axis": 4 * np.sqrt(big),
            "minor_axis": 4 * np.sqrt(small),
        }
    names = shape_column_names(pair is not None)
    return {name: values[feature] for name, feature in zip(names, SHAPE_FEATURES, strict=True)}


def centroids(geometries: Sequence[BaseGeometry] | np.ndarray) -> np.ndarray:
    """(n, 2) centroids in level-0 pixels (for summaries by region)."""
    geoms = np.empty(len(geometries), dtype=object)
    geoms[:] = list(geometries)
    points = shapely.centroid(geoms)
    return np.column_stack([shapely.get_x(points), shapely.get_y(points)])
