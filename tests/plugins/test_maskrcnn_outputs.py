"""Output-name mapping: Detectron2- and mmdetection-style exports read through the manifest."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from tilescope.engine.inference.types import TileInfo
from tilescope.plugins.catalog import load_model
from tilescope.plugins.maskrcnn.outputs import OutputMappingError, OutputNames, to_detections

from .maskrcnn_graphs import disk_grid, write_model_folder

TILE = TileInfo(0, 0.0, 0.0, 128, 128, 1.0, (0, 0, 128, 128))
BOXES = np.array([[10, 20, 40, 50], [60, 60, 100, 90]], np.float32)
SCORES = np.array([0.9, 0.7], np.float32)
GRIDS = np.stack([np.ones((28, 28), np.float32), disk_grid()])


def polygons(folder):  # type: ignore[no-untyped-def]
    model = load_model(folder, device="cpu")
    outputs = model.run(model.preprocess([np.zeros((128, 128, 3), np.uint8)]))
    return model.postprocess(outputs, [TILE])[0].instances


def reference(tmp_path):  # type: ignore[no-untyped-def]
    outputs = {
        "boxes": BOXES,
        "labels": np.array([1, 1], np.int64),
        "scores": SCORES,
        "mask_probs": GRIDS[:, None],
    }
    return polygons(write_model_folder(tmp_path / "torchvision", outputs, {}))


def test_detectron2_names_and_zero_based_classes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    outputs = {
        "pred_boxes": BOXES,
        "pred_classes": np.array([0, 0], np.int64),
        "scores": SCORES,
        "pred_masks": GRIDS[:, None],
    }
    params = {
        "boxes_output": "pred_boxes",
        "labels_output": "pred_classes",
        "scores_output": "scores",
        "masks_output": "pred_masks",
        "label_offset": 0,
    }
    got = polygons(write_model_folder(tmp_path / "detectron2", outputs, params))
    want = reference(tmp_path)
    assert [a.class_name for a in got] == ["Nucleus", "Nucleus"]
    for a, b in zip(got, want, strict=True):
        assert a.geometry.equals_exact(b.geometry, 1e-9)


def test_mmdetection_dets_with_score_column_and_pasted_masks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pasted = np.zeros((1, 2, 128, 128), np.float32)
    pasted[0, 0, 20:51, 10:41] = 0.9  # rows 20..50, cols 10..40
    yy, xx = np.mgrid[0:128, 0:128]
    pasted[0, 1] = ((yy - 75) ** 2 + (xx - 80) ** 2 <= 12**2) * 0.8
    outputs = {
        "dets": np.concatenate([BOXES, SCORES[:, None]], axis=1)[None],  # 1 x N x 5
        "labels": np.array([[0, 0]], np.int64),
        "masks": pasted,
    }
    params = {
        "boxes_output": "dets",
        "scores_output": "dets",
        "labels_output": "labels",
        "masks_output": "masks",
        "label_offset": 0,
    }
    got = polygons(write_model_folder(tmp_path / "mmdet", outputs, params))
    assert len(got) == 2
    assert got[0].score == pytest.approx(0.9)
    square = box(10, 20, 41, 51)
    assert got[0].geometry.symmetric_difference(square).area < 0.05 * square.area
    assert got[1].geometry.area == pytest.approx(np.pi * 12**2, rel=0.05)


def test_single_class_model_without_labels_output(tmp_path) -> None:  # type: ignore[no-untyped-def]
    outputs = {"boxes": BOXES, "scores": SCORES, "mask_probs": GRIDS[:, None]}
    got = polygons(write_model_folder(tmp_path / "nolabels", outputs, {"labels_output": ""}))
    assert [a.class_name for a in got] == ["Nucleus", "Nucleus"]


def test_inconsistent_detection_counts_are_reported() -> None:
    outputs = {
        "boxes": BOXES,
        "labels": np.array([1], np.int64),
        "scores": SCORES,
        "mask_probs": GRIDS[:, None],
    }
    with pytest.raises(OutputMappingError, match="number of detections"):
        to_detections(outputs, OutputNames(), (128, 128))


def test_boxes_of_wrong_shape_are_reported() -> None:
    outputs = {
        "boxes": np.zeros((2, 3), np.float32),
        "labels": np.ones(2, np.int64),
        "scores": SCORES,
        "mask_probs": GRIDS[:, None],
    }
    with pytest.raises(OutputMappingError, match=r"N x 4 or N x 5"):
        to_detections(outputs, OutputNames(), (128, 128))
