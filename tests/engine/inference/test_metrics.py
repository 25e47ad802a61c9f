"""Metrics on label images with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from tilescope.engine.inference.metrics import aji, dice, instance_f1, rasterize


def _two_squares() -> np.ndarray:
    labels = np.zeros((20, 20), dtype=np.int32)
    labels[2:8, 2:8] = 1
    labels[10:16, 10:16] = 2
    return labels


def test_perfect_prediction() -> None:
    truth = _two_squares()
    pred = np.where(truth == 1, 7, np.where(truth == 2, 3, 0))  # ids need not agree
    assert instance_f1(truth, pred).f1 == 1.0
    assert aji(truth, pred) == 1.0 and dice(truth, pred) == 1.0


def test_one_missed_one_false() -> None:
    truth = _two_squares()
    pred = np.zeros_like(truth)
    pred[2:8, 2:8] = 1
    pred[17:19, 0:3] = 2  # false positive
    score = instance_f1(truth, pred)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (1, 1, 1)
    assert score.f1 == pytest.approx(0.5)
    assert aji(truth, pred) == pytest.approx(36 / (36 + 36 + 6))
    assert dice(truth, pred) == pytest.approx(2 * 36 / (72 + 42))


def test_iou_below_half_is_not_a_match() -> None:
    truth = _two_squares()
    pred = np.zeros_like(truth)
    pred[2:8, 5:11] = 1  # IoU 18/54
    assert instance_f1(truth, pred).true_positives == 0


def test_rasterize_matches_pixel_corner_boxes() -> None:
    labels = rasterize([box(2, 3, 6, 5), box(10, 10, 12, 11)], (16, 16))
    assert (labels == 1).sum() == 8 and labels[3:5, 2:6].min() == 1
    assert (labels == 2).sum() == 2
