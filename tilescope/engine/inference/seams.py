"""Dropping the second copy of an object seen by two neighbouring tiles.

The centroid-in-core rule keeps each object once when both tiles predict the same outline.
They rarely do exactly: when the two predicted centroids fall on either side of the core
boundary, both copies survive (about one nucleus in 200 with Mask R-CNN). The single writer
therefore remembers the objects it wrote near core boundaries and drops a later object of
another tile that overlaps one of them by more than an IoU threshold: first written wins, so
the result does not depend on timing, and nothing is ever held back from the store. Within a
tile the better-scored of two overlapping objects wins.
"""

from __future__ import annotations

import math
from collections import defaultdict

from shapely import prepared

from tilescope.engine.annotations.model import Annotation
from tilescope.engine.inference.types import TileInfo

DEFAULT_IOU = 0.5
_CELL = 512.0  # level-0 px per index cell


def _iou(a: Annotation, b: Annotation) -> float:
    inter = a.geometry.intersection(b.geometry).area
    union = a.geometry.area + b.geometry.area - inter
    return float(inter / union) if union > 0 else 0.0


class SeamFilter:
    """Remembers near-seam objects (only those: memory stays small on whole slides)."""

    def __init__(self, iou_threshold: float = DEFAULT_IOU, margin_px: float = 16.0) -> None:
        self.iou_threshold = iou_threshold
        self.margin_px = margin_px
        self._cells: dict[tuple[int, int], list[tuple[int, Annotation]]] = defaultdict(list)
        self.dropped = 0

    def _cells_of(self, bounds: tuple[float, float, float, float]) -> list[tuple[int, int]]:
        x0, y0, x1, y1 = bounds
        return [
            (cx, cy)
            for cx in range(math.floor(x0 / _CELL), math.floor(x1 / _CELL) + 1)
            for cy in range(math.floor(y0 / _CELL), math.floor(y1 / _CELL) + 1)
        ]

    def _near_seam(self, obj: Annotation, tile: TileInfo) -> bool:
        """True when the object reaches within `margin` of a core edge the image continues past."""
        margin = self.margin_px * tile.downsample
        cx0, cy0, cx1, cy1 = tile.level0_core
        x0, y0, x1, y1 = obj.geometry.bounds
        left, top, right, bottom = tile.inner_edges
        return (
            (left and x0 <= cx0 + margin)
            or (top and y0 <= cy0 + margin)
            or (right and x1 >= cx1 - margin)
            or (bottom and y1 >= cy1 - margin)
        )

    def keep(self, tile: TileInfo, objects: list[Annotation]) -> list[Annotation]:
        """`objects` of `tile` without copies: of objects other tiles already wrote near the
        seam, and of better-scored objects of the same tile (a model's own NMS works on
        boxes, and tiny masks can slip through it). Order is preserved."""
        local: dict[tuple[int, int], list[tuple[int, Annotation]]] = defaultdict(list)
        ranked = sorted(objects, key=lambda a: -(a.score or 0.0))  # stable: ties keep order
        kept: set[int] = set()
        for obj in ranked:
            if obj.geometry.is_empty:
                kept.add(id(obj))
                continue
            cells = self._cells_of(obj.geometry.bounds)
            if self._duplicates(obj, cells, local, -1) or self._duplicates(
                obj, cells, self._cells, tile.index
            ):
                self.dropped += 1
                continue
            kept.add(id(obj))
            for cell in cells:
                local[cell].append((tile.index, obj))
            if self._near_seam(obj, tile):
                for cell in cells:
                    self._cells[cell].append((tile.index, obj))
        return [obj for obj in objects if id(obj) in kept]

    def remember(self, tile: TileInfo, objects: list[Annotation]) -> None:
        """Index objects `tile` kept in an earlier, interrupted call of the same run, as
        `keep` would have: a resumed run then drops the same seam copies."""
        for obj in objects:
            if not obj.geometry.is_empty and self._near_seam(obj, tile):
                for cell in self._cells_of(obj.geometry.bounds):
                    self._cells[cell].append((tile.index, obj))

    def _duplicates(
        self,
        obj: Annotation,
        cells: list[tuple[int, int]],
        index: dict[tuple[int, int], list[tuple[int, Annotation]]],
        skip_tile: int,
    ) -> bool:
        """True when `obj` overlaps an indexed object (not of `skip_tile`) above the IoU."""
        shape = prepared.prep(obj.geometry)
        seen: set[int] = set()
        for cell in cells:
            for other_tile, other in index.get(cell, ()):
                if other_tile == skip_tile or id(other) in seen:
                    continue
                seen.add(id(other))
                if shape.intersects(other.geometry) and _iou(obj, other) > self.iou_threshold:
                    return True
        return False
