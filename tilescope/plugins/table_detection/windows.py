"""Page-sized windows for scans far taller or wider than the model's 608 x 800 page.

The layout model saw whole pages squashed to 800 x 608; a strip of several pages squashed the
same way shrinks its text to illegibility along one axis. Such a scan is read in overlapping
windows of the model's own aspect ratio, and boxes cut at a window edge are joined again.
"""

from __future__ import annotations

import math

import numpy as np

from tilescope.plugins.table_detection.decode import Detections
from tilescope.plugins.table_detection.nms import intersections

#: A page is windowed when squashing it would distort its aspect ratio by more than this.
MAX_DISTORTION = 2.0
OVERLAP = 0.25

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in page pixels


def page_windows(width: int, height: int, model_aspect: float = 800 / 608) -> list[Window]:
    """One window (the page) for page-like shapes; model-shaped overlapping windows otherwise."""
    distortion = (height / width) / model_aspect
    if 1 / MAX_DISTORTION <= distortion <= MAX_DISTORTION:
        return [(0, 0, width, height)]
    tall = distortion > 1
    length, across = (height, width) if tall else (width, height)
    size = round(across * model_aspect) if tall else round(across / model_aspect)
    count = math.ceil((length - size) / (size * (1 - OVERLAP))) + 1
    starts = np.linspace(0, length - size, count).round().astype(int)
    if tall:
        return [(0, int(s), width, int(s) + size) for s in starts]
    return [(int(s), 0, int(s) + size, height) for s in starts]


def join_cut_boxes(
    detections: Detections, touch: float = 4.0, agreement: float = 0.7
) -> Detections:
    """Join same-class boxes that overlap (or touch) and agree in extent across the cut.

    Used on boxes gathered from overlapping windows: a table crossing a window edge comes back
    as two partial boxes, one per window.
    """
    boxes = [b.astype(np.float64) for b in detections.boxes]
    scores = list(detections.scores)
    labels = list(detections.labels)
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if labels[i] != labels[j] or not _joinable(boxes[i], boxes[j], touch, agreement):
                    continue
                boxes[i] = np.concatenate(
                    [np.minimum(boxes[i][:2], boxes[j][:2]), np.maximum(boxes[i][2:], boxes[j][2:])]
                )
                scores[i] = max(scores[i], scores[j])
                del boxes[j], scores[j], labels[j]
                merged = True
                break
            if merged:
                break
    if not boxes:
        return Detections.empty()
    return Detections(np.stack(boxes), np.asarray(scores), np.asarray(labels, dtype=np.int64))


def _joinable(a: np.ndarray, b: np.ndarray, touch: float, agreement: float) -> bool:
    grown = a + np.array([-touch, -touch, touch, touch])
    if intersections(grown, b[None])[0] <= 0:
        return False
    # Extent agreement along the axis the cut did not cross (whichever agrees better).
    return (
        max(_interval_iou(a[0], a[2], b[0], b[2]), _interval_iou(a[1], a[3], b[1], b[3]))
        >= agreement
    )


def _interval_iou(a0: float, a1: float, b0: float, b1: float) -> float:
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = max(a1, b1) - min(a0, b0)
    return inter / union if union > 0 else 0.0
