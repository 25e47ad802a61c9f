"""PicoDet/GFL head outputs -> boxes, scores and labels in model-input pixels.

The exported head gives, for every stride level, a sigmoid score map (cells x classes) and a
General Focal Loss box distribution (cells x 4 * (reg_max + 1)). Each side's distance from the
cell centre is the expectation of a softmax over reg_max + 1 bins, in units of the stride.
Grids cover the input rounding up, so a 800-px side at stride 64 has 13 cells, not 12.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STRIDES: tuple[int, ...] = (8, 16, 32, 64)
REG_MAX = 7


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes (N x 4: x0, y0, x1, y1), scores (N,) and class indices (N,), best first."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64))

    def take(self, index: np.ndarray) -> Detections:
        return Detections(self.boxes[index], self.scores[index], self.labels[index])


def cell_centres(input_height: int, input_width: int, stride: int) -> np.ndarray:
    """Centres (cells x 2: x, y) of one level's grid, row-major like the head's outputs."""
    rows, cols = math.ceil(input_height / stride), math.ceil(input_width / stride)
    ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1)


def distribution_to_distances(distribution: np.ndarray, reg_max: int = REG_MAX) -> np.ndarray:
    """cells x 4*(reg_max+1) logits -> cells x 4 expected distances (left, top, right, bottom)."""
    logits = distribution.reshape(-1, 4, reg_max + 1).astype(np.float64)
    logits = logits - logits.max(axis=2, keepdims=True)  # stable softmax
    weights = np.exp(logits)
    weights /= weights.sum(axis=2, keepdims=True)
    return weights @ np.arange(reg_max + 1, dtype=np.float64)


def decode_level(
    scores: np.ndarray,
    distribution: np.ndarray,
    stride: int,
    input_size: tuple[int, int],
    score_threshold: float,
) -> Detections:
    """One stride level: keep each cell's best class above the threshold and decode its box."""
    height, width = input_size
    centres = cell_centres(height, width, stride)
    scores = scores.reshape(centres.shape[0], -1)
    distribution = distribution.reshape(centres.shape[0], -1)
    labels = scores.argmax(axis=1)
    best = scores[np.arange(scores.shape[0]), labels]
    keep = np.flatnonzero(best > score_threshold)
    if keep.size == 0:
        return Detections.empty()
    distances = distribution_to_distances(distribution[keep]) * stride
    c = centres[keep]
    boxes = np.concatenate([c - distances[:, :2], c + distances[:, 2:]], axis=1)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    return Detections(boxes, best[keep].astype(np.float64), labels[keep].astype(np.int64))


def decode_outputs(
    outputs: Sequence[np.ndarray],
    input_size: tuple[int, int],
    score_threshold: float,
    strides: Sequence[int] = STRIDES,
) -> Detections:
    """All levels of one image: outputs are the score maps of every level, then the boxes."""
    if len(outputs) != 2 * len(strides):
        raise ValueError(f"expected {2 * len(strides)} head outputs, got {len(outputs)}")
    levels = len(strides)
    parts = [
        decode_level(outputs[i][0], outputs[i + levels][0], stride, input_size, score_threshold)
        for i, stride in enumerate(strides)
    ]
    merged = Detections(
        np.concatenate([p.boxes for p in parts]),
        np.concatenate([p.scores for p in parts]),
        np.concatenate([p.labels for p in parts]),
    )
    return merged.take(np.argsort(-merged.scores, kind="stable"))
