"""Instance segmentation metrics on label images (numpy only): F1 at an IoU and AJI.

Both follow the usual nuclei-segmentation definitions: F1 counts a prediction as a true
positive when it overlaps one ground-truth instance with IoU above the threshold (above 0.5
a match is unique); AJI (Kumar et al. 2017) sums, over ground-truth instances, the
intersection and union with their best-IoU prediction, and adds unmatched predictions to
the union.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InstanceScores:
    f1: float
    precision: float
    recall: float
    aji: float
    n_true: int
    n_pred: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "f1": round(self.f1, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "aji": round(self.aji, 4),
            "n_true": self.n_true,
            "n_pred": self.n_pred,
        }


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids 1..N (0 stays background)."""
    ids, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(labels.shape)
    if ids[0] != 0:
        inverse = inverse + 1
    return inverse.astype(np.int64)


def _overlaps(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersection matrix (T+1 x P+1, row/col 0 = background) and the areas of each side."""
    n_true, n_pred = int(true.max()), int(pred.max())
    joint = true.ravel() * (n_pred + 1) + pred.ravel()
    counts = np.bincount(joint, minlength=(n_true + 1) * (n_pred + 1))
    inter = counts.reshape(n_true + 1, n_pred + 1)
    return inter, inter.sum(axis=1), inter.sum(axis=0)


def instance_scores(
    true: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.5
) -> InstanceScores:
    """F1 at `iou_threshold` and AJI of a predicted label image against the ground truth."""
    if true.shape != pred.shape:
        raise ValueError(f"label images differ in shape: {true.shape} vs {pred.shape}")
    true, pred = _relabel(true), _relabel(pred)
    inter, area_true, area_pred = _overlaps(true, pred)
    inter, area_true, area_pred = inter[1:, 1:], area_true[1:], area_pred[1:]
    n_true, n_pred = len(area_true), len(area_pred)
    union = area_true[:, None] + area_pred[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)

    if n_true and n_pred:
        tp = (
            int(np.sum(iou.max(axis=1) > iou_threshold))
            if iou_threshold >= 0.5
            else _greedy(iou, iou_threshold)
        )
    else:
        tp = 0
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * tp / (n_true + n_pred) if (n_true + n_pred) else 1.0

    if n_true == 0:
        aji = 1.0 if n_pred == 0 else 0.0
    else:
        used = np.zeros(n_pred, dtype=bool)
        total_inter = 0
        total_union = 0
        for t in range(n_true):
            if n_pred and inter[t].max() > 0:
                p = int(np.argmax(iou[t]))
                total_inter += int(inter[t, p])
                total_union += int(union[t, p])
                used[p] = True
            else:
                total_union += int(area_true[t])
        total_union += int(area_pred[~used].sum())
        aji = total_inter / total_union if total_union else 0.0
    return InstanceScores(f1, precision, recall, aji, n_true, n_pred)


def _greedy(iou: np.ndarray, threshold: float) -> int:
    """One-to-one matches in decreasing IoU order (needed only below IoU 0.5)."""
    pairs = np.argwhere(iou > threshold)
    order = np.argsort(-iou[pairs[:, 0], pairs[:, 1]])
    seen_t: set[int] = set()
    seen_p: set[int] = set()
    for t, p in pairs[order]:
        if t not in seen_t and p not in seen_p:
            seen_t.add(int(t))
            seen_p.add(int(p))
    return len(seen_t)


def label_image(masks: np.ndarray, scores: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Instance label image from N x H x W boolean masks; higher scores claim pixels first."""
    labels = np.zeros(shape, dtype=np.int32)
    for rank, index in enumerate(np.argsort(-scores), start=1):
        free = masks[index] & (labels == 0)
        labels[free] = rank
    return labels
