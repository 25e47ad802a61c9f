"""Polygon vertices of many geometries as flat numpy arrays (one pass, no loop per object).

Multipolygons are split into parts and parts into rings; every vertex keeps the index of its
geometry and of its ring, and whether that ring is a hole, so reductions over all objects are
`np.bincount` calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely


@dataclass(frozen=True, slots=True)
class RingEdges:
    """Every polygon edge of many geometries: start (x0, y0), end (x1, y1), owner, hole flag."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    geometry: np.ndarray  # index of the geometry each edge belongs to
    hole: np.ndarray  # True for edges of interior rings
    ring: np.ndarray  # index of the ring (over all geometries) each edge belongs to


def ring_edges(geometries: np.ndarray) -> RingEdges:
    """The edges of all polygon rings (points and lines contribute none)."""
    geoms = np.asarray(geometries, dtype=object)
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    is_polygon = shapely.get_type_id(parts) == 3
    parts, part_owner = parts[is_polygon], part_owner[is_polygon]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    first_of_part = np.ones(len(rings), dtype=bool)
    first_of_part[1:] = ring_part[1:] != ring_part[:-1]
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    if len(coords) < 2:
        empty = np.zeros(0)
        none = np.zeros(0, np.int64)
        return RingEdges(empty, empty, empty, empty, none, np.zeros(0, bool), none)
    # Rings are closed (last vertex repeats the first): edges join consecutive vertices.
    same = coord_ring[1:] == coord_ring[:-1]
    start = np.flatnonzero(same)
    ring_of_edge = coord_ring[start]
    return RingEdges(
        x0=coords[start, 0],
        y0=coords[start, 1],
        x1=coords[start + 1, 0],
        y1=coords[start + 1, 1],
        geometry=part_owner[ring_part[ring_of_edge]],
        hole=~first_of_part[ring_of_edge],
        ring=ring_of_edge,
    )
