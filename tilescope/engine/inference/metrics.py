"""Segmentation metrics on instance label images (0 = background, 1..n = objects).

- `instance_f1`: detection F1 with a match when IoU >= 0.5 (above 0.5 a match is unique, so
  no assignment problem is needed).
- `aji`: Aggregated Jaccard Index (Kumar et al., IEEE TMI 2017).
- `panoptic_quality`: PQ = DQ x SQ (Kirillov et al. 2019; matches at IoU > 0.5).
- `dice`: Dice of the foreground masks.
`rasterize` turns level-0 polygons (pixel-corner convention) back into a label image.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from shapely.geometry.base import BaseGeometry
from skimage.draw import polygon as fill_polygon


@dataclass(frozen=True, slots=True)
class DetectionScore:
    f1: float
    precision: float
    recall: float
    true_positives: int
    false_positives: int
    false_negatives: int


def _overlaps(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse contingency: (truth id, pred id, shared pixels) for every overlapping pair."""
    both = (truth > 0) & (pred > 0)
    pairs = np.stack([truth[both].astype(np.int64), pred[both].astype(np.int64)])
    if pairs.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    unique, counts = np.unique(pairs, axis=1, return_counts=True)
    return unique[0], unique[1], counts


def _areas(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels.ravel().astype(np.int64))


def instance_f1(truth: np.ndarray, pred: np.ndarray, iou: float = 0.5) -> DetectionScore:
    t_ids, p_ids, shared = _overlaps(truth, pred)
    t_area, p_area = _areas(truth), _areas(pred)
    ious = shared / (t_area[t_ids] + p_area[p_ids] - shared) if len(shared) else shared
    matched = ious >= iou if iou >= 0.5 else ious > iou
    tp = len(np.unique(t_ids[matched]))
    n_truth = int((t_area[1:] > 0).sum())
    n_pred = int((p_area[1:] > 0).sum())
    fp, fn = n_pred - tp, n_truth - tp
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_truth if n_truth else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0
    return DetectionScore(f1, precision, recall, tp, fp, fn)


def aji(truth: np.ndarray, pred: np.ndarray) -> float:
    """Each true object joins the prediction with the best IoU; unused predictions add to U."""
    t_ids, p_ids, shared = _overlaps(truth, pred)
    t_area, p_area = _areas(truth), _areas(pred)
    truths = np.flatnonzero(t_area[1:] > 0) + 1
    if len(truths) == 0:
        return 1.0 if not (p_area[1:] > 0).any() else 0.0
    ious = shared / (t_area[t_ids] + p_area[p_ids] - shared) if len(shared) else shared
    intersection = union = 0.0
    used: set[int] = set()
    order = np.lexsort((-ious, t_ids))  # per truth id, best IoU first
    best: dict[int, int] = {}
    for k in order:
        best.setdefault(int(t_ids[k]), int(k))
    for t in truths:
        k = best.get(int(t))
        if k is None:
            union += float(t_area[t])
            continue
        intersection += float(shared[k])
        union += float(t_area[t] + p_area[p_ids[k]] - shared[k])
        used.add(int(p_ids[k]))
    for p in np.flatnonzero(p_area[1:] > 0) + 1:
        if int(p) not in used:
            union += float(p_area[p])
    return intersection / union if union else 1.0


def panoptic_quality(truth: np.ndarray, pred: np.ndarray) -> float:
    """Sum of matched IoUs over TP + FP/2 + FN/2 (IoU > 0.5 matches are unique)."""
    t_ids, p_ids, shared = _overlaps(truth, pred)
    t_area, p_area = _areas(truth), _areas(pred)
    ious = shared / (t_area[t_ids] + p_area[p_ids] - shared) if len(shared) else shared
    matched = ious > 0.5
    tp = int(matched.sum())
    n_truth = int((t_area[1:] > 0).sum())
    n_pred = int((p_area[1:] > 0).sum())
    denominator = tp + 0.5 * (n_pred - tp) + 0.5 * (n_truth - tp)
    return float(ious[matched].sum() / denominator) if denominator else 1.0


def dice(truth: np.ndarray, pred: np.ndarray) -> float:
    a, b = truth > 0, pred > 0
    total = int(a.sum() + b.sum())
    return 2.0 * int((a & b).sum()) / total if total else 1.0


def rasterize(geometries: Iterable[BaseGeometry], shape: tuple[int, int]) -> np.ndarray:
    """Label image (1..n in order) of polygons in pixel-corner coordinates; later wins."""
    labels = np.zeros(shape, dtype=np.int32)
    for index, geometry in enumerate(geometries, start=1):
        parts = getattr(geometry, "geoms", [geometry])
        for part in parts:
            if part.geom_type != "Polygon" or part.is_empty:
                continue
            xs, ys = np.asarray(part.exterior.coords).T
            rr, cc = fill_polygon(ys - 0.5, xs - 0.5, shape)
            labels[rr, cc] = index
    return labels
