"""Removing duplicates at tile seams: NMS by mask IoU between instances of different tiles.

The runner keeps an object in the one tile whose core holds its centroid. Two tiles see a
seam object whole but predict slightly different outlines; when the two centroids fall on
either side of the core boundary both copies survive. This pass drops the lower-scored of
any two instances overlapping by more than `iou_threshold` (area IoU of the polygons).
Within one tile Mask R-CNN's own NMS has already run, so pairs come from seams in practice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from shapely import STRtree

from tilescope.engine.annotations.model import Annotation


def polygon_iou(a: Annotation, b: Annotation) -> float:
    inter = a.geometry.intersection(b.geometry).area
    if inter <= 0:
        return 0.0
    return float(inter / (a.geometry.area + b.geometry.area - inter))


def suppress_duplicates(
    annotations: Sequence[Annotation], iou_threshold: float = 0.5
) -> list[Annotation]:
    """`annotations` without lower-scored copies (IoU > threshold); order preserved."""
    if len(annotations) < 2:
        return list(annotations)
    geometries = [a.geometry for a in annotations]
    tree = STRtree(geometries)
    left, right = tree.query(geometries, predicate="intersects")
    pairs = left < right
    scores = np.array([a.score if a.score is not None else 0.0 for a in annotations])
    # Higher score first; ties keep the earlier object so the result is deterministic.
    order = np.lexsort((np.arange(len(annotations)), -scores))
    rank = np.empty(len(annotations), dtype=np.int64)
    rank[order] = np.arange(len(annotations))
    suppressed = np.zeros(len(annotations), dtype=bool)
    candidates = sorted(
        zip(left[pairs].tolist(), right[pairs].tolist(), strict=True),
        key=lambda p: min(rank[p[0]], rank[p[1]]),
    )
    for i, j in candidates:
        winner, loser = (i, j) if rank[i] < rank[j] else (j, i)
        if suppressed[winner] or suppressed[loser]:
            continue
        if polygon_iou(annotations[i], annotations[j]) > iou_threshold:
            suppressed[loser] = True
    return [a for a, s in zip(annotations, suppressed, strict=True) if not s]
