"""Held-out scores of a training run: F1 at an IoU and AJI, as one record for the history.

The metrics themselves are the engine's (`tilescope.engine.inference.metrics`: the same
definitions the runtime evaluation and the model cards use); this module only bundles them
for the training loop and turns predicted masks into a label image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tilescope.engine.inference.metrics import aji, instance_f1


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


def instance_scores(
    true: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.5
) -> InstanceScores:
    """F1 at `iou_threshold` and AJI of a predicted label image against the ground truth."""
    if true.shape != pred.shape:
        raise ValueError(f"label images differ in shape: {true.shape} vs {pred.shape}")
    detection = instance_f1(true, pred, iou_threshold)
    n_true = detection.true_positives + detection.false_negatives
    n_pred = detection.true_positives + detection.false_positives
    return InstanceScores(
        detection.f1, detection.precision, detection.recall, aji(true, pred), n_true, n_pred
    )


def label_image(masks: np.ndarray, scores: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Instance label image from N x H x W boolean masks; higher scores claim pixels first."""
    labels = np.zeros(shape, dtype=np.int32)
    for rank, index in enumerate(np.argsort(-scores), start=1):
        free = masks[index] & (labels == 0)
        labels[free] = rank
    return labels
