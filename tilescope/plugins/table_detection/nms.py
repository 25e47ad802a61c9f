"""Greedy non-maximum suppression in numpy (per class, and box containment)."""

from __future__ import annotations

import numpy as np

from tilescope.plugins.table_detection.decode import Detections


def box_areas(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def intersections(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection area of one box (4,) with each of boxes (N x 4)."""
    w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box with each of boxes."""
    inter = intersections(box, boxes)
    union = box_areas(box[None])[0] + box_areas(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept, best score first; a box overlapping a kept one is dropped."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def per_class_nms(detections: Detections, iou_threshold: float) -> Detections:
    """NMS within each class only (a table may sit inside a figure box), best first."""
    kept = [
        np.flatnonzero(detections.labels == label)[
            nms(
                detections.boxes[detections.labels == label],
                detections.scores[detections.labels == label],
                iou_threshold,
            )
        ]
        for label in np.unique(detections.labels)
    ]
    if not kept:
        return detections
    index = np.concatenate(kept)
    return detections.take(index[np.argsort(-detections.scores[index], kind="stable")])


def suppress_contained(
    detections: Detections, containment: float = 0.8, same_class_only: bool = True
) -> Detections:
    """Drop a box lying mostly (>= containment of its area) inside a better box of its class.

    Plain IoU-NMS keeps a table's header block next to the whole table, because their IoU is
    small; one object should give one box.
    """
    order = np.argsort(-detections.scores, kind="stable")
    areas = box_areas(detections.boxes)
    keep: list[int] = []
    for i in order:
        candidates = [
            k for k in keep if not same_class_only or detections.labels[k] == detections.labels[i]
        ]
        if candidates and areas[i] > 0:
            inside = intersections(detections.boxes[i], detections.boxes[candidates]) / areas[i]
            if float(inside.max()) >= containment:
                continue
        keep.append(int(i))
    return detections.take(np.asarray(keep, dtype=np.int64))
