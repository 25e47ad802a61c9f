"""Model output -> the object's mask -> an exact polygon in level-0 pixels.

Polygons follow the store's pixel-corner convention: the mask's pixel (i, j) covers
[i, i+1) x [j, j+1). `skimage.measure.find_contours` traces through pixel centres and cuts
every corner (marching squares), so a 4 x 4 square would come back as an octagon of area
15.5; instead the mask is turned into its row runs and merged, which gives the exact
pixel-edge outline (area = pixel count), then simplified within `tolerance` pixels.
"""

from __future__ import annotations

import numpy as np
import shapely
import shapely.affinity
from scipy import ndimage as ndi
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from tilescope.plugins.nuclick.encoding import PatchWindow


def select_object(
    probability: np.ndarray, inclusion: np.ndarray, threshold: float, min_area: int
) -> np.ndarray | None:
    """The object the prompt points at: components above `threshold` touching the inclusion
    signal, holes filled, specks under `min_area` pixels dropped; None when nothing is left.
    """
    mask = probability > threshold
    labelled, count = ndi.label(mask)
    if count == 0:
        return None
    touched = np.unique(labelled[inclusion & mask])
    touched = touched[touched > 0]
    if touched.size == 0:
        return None
    chosen = np.isin(labelled, touched)
    rows, cols = np.nonzero(chosen.any(axis=1))[0], np.nonzero(chosen.any(axis=0))[0]
    box_ = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    chosen[box_] = ndi.binary_fill_holes(chosen[box_])  # only around the object: faster
    if min_area > 0:
        parts, n = ndi.label(chosen)
        sizes = ndi.sum(chosen, parts, index=np.arange(1, n + 1))
        chosen = np.isin(parts, np.nonzero(sizes >= min_area)[0] + 1)
    return chosen if chosen.any() else None


def mask_to_geometry(mask: np.ndarray, tolerance: float = 0.0) -> BaseGeometry:
    """Exact outline of a boolean mask in its own pixel-corner coordinates.

    Returns a Polygon, a MultiPolygon for several parts, or an empty Polygon.
    """
    rows = np.nonzero(mask.any(axis=1))[0]
    boxes = []
    for r in rows:
        row = np.concatenate([[False], mask[r], [False]])
        edges = np.flatnonzero(row[1:] != row[:-1])
        for start, stop in zip(edges[0::2], edges[1::2], strict=True):
            boxes.append(box(float(start), float(r), float(stop), float(r + 1)))
    if not boxes:
        return Polygon()
    geometry = shapely.union_all(boxes)
    if tolerance > 0:
        geometry = geometry.simplify(tolerance, preserve_topology=True)
    return _clean(geometry)


def _clean(geometry: BaseGeometry) -> BaseGeometry:
    """Drop collinear vertices left by the union and anything that is not a polygon."""
    geometry = geometry.simplify(0)  # removes collinear points only
    if isinstance(geometry, Polygon | MultiPolygon):
        return geometry
    polys = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon)]
    return MultiPolygon(polys) if len(polys) > 1 else (polys[0] if polys else Polygon())


def to_level0(geometry: BaseGeometry, window: PatchWindow) -> BaseGeometry:
    """Patch pixel coordinates -> level-0 pixels."""
    d = window.downsample
    return shapely.affinity.affine_transform(geometry, [d, 0.0, 0.0, d, window.x, window.y])
