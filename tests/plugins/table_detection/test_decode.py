"""GFL decoding, NMS and page windows on synthetic tensors with known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tilescope.plugins.table_detection.decode import (
    Detections,
    cell_centres,
    decode_outputs,
    distribution_to_distances,
)
from tilescope.plugins.table_detection.nms import nms, per_class_nms, suppress_contained
from tilescope.plugins.table_detection.windows import join_cut_boxes, page_windows

INPUT = (800, 608)
STRIDES = (8, 16, 32, 64)
CELLS = [100 * 76, 50 * 38, 25 * 19, 13 * 10]  # grids round up: 800 / 64 -> 13 rows


def one_hot_logits(bins: list[dict[int, float]]) -> np.ndarray:
    """4 x 8 logits whose softmax puts the given weights on the given bins."""
    logits = np.full((4, 8), -50.0, dtype=np.float32)
    for side, weights in enumerate(bins):
        for index, weight in weights.items():
            logits[side, index] = np.log(weight)
    return logits.reshape(-1)


def empty_outputs(classes: int = 10) -> list[np.ndarray]:
    scores = [np.zeros((1, n, classes), np.float32) for n in CELLS]
    boxes = [np.zeros((1, n, 32), np.float32) for n in CELLS]
    return scores + boxes


def test_grid_sizes_round_up() -> None:
    for stride, cells in zip(STRIDES, CELLS, strict=True):
        assert cell_centres(*INPUT, stride).shape == (cells, 2)
    centres = cell_centres(*INPUT, 64)
    assert centres[0].tolist() == [32.0, 32.0]
    assert centres[-1].tolist() == [(9 + 0.5) * 64, (12 + 0.5) * 64]


def test_expectation_over_bins() -> None:
    logits = one_hot_logits([{3: 1.0}, {2: 1.0}, {5: 1.0}, {1: 0.5, 2: 0.5}])
    assert distribution_to_distances(logits[None]).ravel() == pytest.approx([3, 2, 5, 1.5])


def test_decode_known_box() -> None:
    outputs = empty_outputs()
    level, stride, row, col = 1, 16, 10, 5
    cell = row * 38 + col
    outputs[level][0, cell, 4] = 0.9  # class 4 = table
    outputs[level][0, cell, 0] = 0.2
    outputs[4 + level][0, cell] = one_hot_logits([{3: 1.0}, {2: 1.0}, {5: 1.0}, {1: 0.5, 2: 0.5}])
    found = decode_outputs(outputs, INPUT, score_threshold=0.5)
    cx, cy = (col + 0.5) * stride, (row + 0.5) * stride
    assert len(found) == 1
    assert found.labels.tolist() == [4]
    assert found.scores[0] == pytest.approx(0.9)
    expected = [cx - 3 * stride, cy - 2 * stride, cx + 5 * stride, cy + 1.5 * stride]
    assert found.boxes[0] == pytest.approx(expected)


def test_decode_clips_to_input_and_thresholds() -> None:
    outputs = empty_outputs()
    outputs[3][0, 0, 2] = 0.7  # stride 64, top-left cell, reaching past the corner
    outputs[7][0, 0] = one_hot_logits([{7: 1.0}] * 4)
    outputs[0][0, 5, 1] = 0.3  # below threshold
    found = decode_outputs(outputs, INPUT, score_threshold=0.5)
    assert len(found) == 1
    assert found.boxes[0] == pytest.approx([0, 0, 32 + 7 * 64, 32 + 7 * 64])


def test_decode_rejects_wrong_output_count() -> None:
    with pytest.raises(ValueError, match="8 head outputs"):
        decode_outputs(empty_outputs()[:7], INPUT, 0.5)


def test_nms_keeps_best_of_overlapping() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]])
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.95).tolist() == [1, 0, 2, 3]


def test_per_class_nms_keeps_other_classes() -> None:
    same = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10.0]])
    dets = Detections(same, np.array([0.9, 0.8, 0.7]), np.array([4, 4, 2]))
    kept = per_class_nms(dets, 0.5)
    assert kept.labels.tolist() == [4, 2]
    assert kept.scores.tolist() == [0.9, 0.7]


def test_contained_box_of_same_class_is_dropped() -> None:
    boxes = np.array([[0, 0, 100, 100], [10, 10, 50, 30], [10, 10, 50, 30], [90, 90, 200, 200.0]])
    dets = Detections(boxes, np.array([0.9, 0.8, 0.85, 0.7]), np.array([4, 4, 0, 4]))
    kept = suppress_contained(dets)
    assert kept.scores.tolist() == [0.9, 0.85, 0.7]  # the nested table went, the text stays


def test_windows_only_for_strips() -> None:
    assert page_windows(612, 792) == [(0, 0, 612, 792)]
    assert page_windows(1000, 700) == [(0, 0, 1000, 700)]  # landscape page: one window
    tall = page_windows(600, 5000)
    assert len(tall) > 1
    assert tall[0][1] == 0 and tall[-1][3] == 5000
    for (_, y0, _, y1), (_, ny0, _, _) in itertools.pairwise(tall):
        assert y1 - y0 == round(600 * 800 / 608)
        assert ny0 < y1  # overlapping
    wide = page_windows(8000, 800)
    assert wide[0][0] == 0 and wide[-1][2] == 8000 and all(w[3] == 800 for w in wide)


def test_boxes_cut_at_a_window_edge_are_joined() -> None:
    boxes = np.array([[50, 700, 550, 1000], [52, 990, 548, 1300], [50, 1400, 300, 1500.0]])
    dets = Detections(boxes, np.array([0.9, 0.8, 0.95]), np.array([4, 4, 4]))
    joined = join_cut_boxes(dets)
    assert len(joined) == 2
    assert [50, 700, 550, 1300] in joined.boxes.tolist()
