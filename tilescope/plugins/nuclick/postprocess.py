"""Model output -> the object's mask -> its outline in level-0 pixels.

Polygons follow the store's pixel-corner convention: pixel (i, j) covers [i, i+1) x [j, j+1),
so its value sits at the centre (i + 0.5, j + 0.5).

`select_object` decides *which* pixels are the object (components under the prompt, holes
filled, specks dropped). `probability_outline` then draws it where the model puts it: the
iso-line at the threshold of the bilinearly interpolated probability (marching squares
through pixel centres), restricted to that object, so the outline is smooth and sub-pixel
instead of the pixel staircase of the mask's edges (jagged at 0.5 um/px), while the pixels
whose centres it encloses are exactly the mask's. `mask_to_geometry` keeps the exact
pixel-edge outline (area = pixel count) for label images and masks without a probability.
"""

from __future__ import annotations

import numpy as np
import shapely
import shapely.affinity
from scipy import ndimage as ndi
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from skimage.measure import find_contours

from tilescope.plugins.nuclick.encoding import PatchWindow


def select_object(
    probability: np.ndarray,
    inclusion: np.ndarray,
    threshold: float,
    min_area: int,
    single: bool = False,
) -> np.ndarray | None:
    """The object the prompt points at: components above `threshold` touching the inclusion
    signal, holes filled, specks under `min_area` pixels dropped; None when nothing is left.

    `single` (a click): only the one component most of the inclusion disk falls on (the
    larger on a tie), so a click between two blobs never comes back as two fragments.
    """
    mask = probability > threshold
    labelled, count = ndi.label(mask)
    if count == 0:
        return None
    touched, hits = np.unique(labelled[inclusion & mask], return_counts=True)
    if touched.size == 0:
        return None
    if single and touched.size > 1:
        sizes = ndi.sum(mask, labelled, index=touched)
        touched = touched[[int(np.lexsort((sizes, hits))[-1])]]
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


def probability_outline(
    probability: np.ndarray, mask: np.ndarray, threshold: float, tolerance: float = 0.0
) -> BaseGeometry:
    """Sub-pixel outline of the object `mask` (from `select_object`) along the `threshold`
    iso-line of `probability`, in the mask's pixel-corner coordinates, simplified within
    `tolerance` pixels.

    Only the object is traced: its filled holes count as inside, every other pixel above the
    threshold (a neighbour, a dropped speck) as background, so the result has one part per
    part of the mask and no holes. Where the object meets the array's border the outline
    runs along that border, as the mask's own edge does.
    """
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return Polygon()
    # The object's box and one pixel around it (all the iso-line can reach), plus a frame.
    r0, r1 = max(0, rows[0] - 1), min(mask.shape[0], rows[-1] + 2)
    c0, c1 = max(0, cols[0] - 1), min(mask.shape[1], cols[-1] + 2)
    inside = mask[r0:r1, c0:c1]
    prob = np.nan_to_num(probability[r0:r1, c0:c1].astype(np.float64))
    eps = 1e-6  # keeps every value off the level: marching squares needs a strict side
    field = np.where(
        inside,
        np.maximum(prob, threshold + eps),
        np.where(prob > threshold, 0.0, np.minimum(prob, threshold - eps)),
    )
    border = (r0 == 0, r1 == mask.shape[0], c0 == 0, c1 == mask.shape[1])
    framed = _frame(field, threshold, border)
    # Pixel (i, j) of `framed` has its centre at x = j + c0 - 1 + 0.5, y = i + r0 - 1 + 0.5.
    offset = np.array([c0 - 0.5, r0 - 0.5])
    parts = [
        Polygon(contour[:, ::-1] + offset)
        for contour in find_contours(framed, threshold, fully_connected="low")
        if len(contour) >= 4
    ]
    if not parts:
        return Polygon()
    geometry = shapely.union_all([p if p.is_valid else shapely.make_valid(p) for p in parts])
    if tolerance > 0:
        geometry = geometry.simplify(tolerance, preserve_topology=True)
    return _without_holes(_clean(geometry))


def _frame(field: np.ndarray, threshold: float, border: tuple[bool, ...]) -> np.ndarray:
    """`field` in a one-pixel frame of background, so every iso-line closes. On the sides
    that are the array's border (top, bottom, left, right) the frame mirrors the field about
    the threshold instead: the iso-line crosses there at the pixel edge, i.e. the border."""
    mirror = np.where(field > threshold, 2.0 * threshold - field, 0.0)
    framed = np.pad(mirror, 1, mode="edge")  # corners: the corner pixel's mirror
    framed[1:-1, 1:-1] = field
    top, bottom, left, right = border
    if not top:
        framed[0] = 0.0
    if not bottom:
        framed[-1] = 0.0
    if not left:
        framed[:, 0] = 0.0
    if not right:
        framed[:, -1] = 0.0
    return framed


def _without_holes(geometry: BaseGeometry) -> BaseGeometry:
    """Each part's exterior only (a hole left by the tracing would be a filled hole)."""
    if isinstance(geometry, Polygon):
        return Polygon(geometry.exterior) if geometry.interiors else geometry
    if isinstance(geometry, MultiPolygon):
        return MultiPolygon([Polygon(p.exterior) for p in geometry.geoms])
    return geometry


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


GLASS_SATURATION = 0.04  # the lower end of the engine's tissue-detection saturation band
GLASS_OD = 0.15  # mean optical density: clean glass is about 0.04, pale nuclei above 0.2


def on_glass(rgb: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the object's pixels are blank glass (unsaturated and nearly transparent).

    The network always outlines something under a click; on glass that is a phantom blob,
    so the click is reported as finding nothing instead.
    """
    pixels = rgb[mask].astype(np.float32)
    if pixels.size == 0:
        return False
    top, bottom = pixels.max(axis=1), pixels.min(axis=1)
    saturation = np.where(top > 0, (top - bottom) / np.maximum(top, 1.0), 0.0)
    od = -np.log((pixels + 1.0) / 256.0).mean(axis=1)
    return bool(np.median(saturation) < GLASS_SATURATION and np.median(od) < GLASS_OD)
