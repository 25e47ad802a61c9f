"""The `maskrcnn` model type on tiny constant ONNX graphs: known detections -> known polygons."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Point, box

from tilescope.engine.inference.types import TileInfo
from tilescope.plugins.catalog import load_model
from tilescope.plugins.manifest import ManifestError
from tilescope.plugins.maskrcnn.paste import paste_mask, resize_bilinear
from tilescope.plugins.maskrcnn.polygons import instance_polygon

from .maskrcnn_graphs import disk_grid, write_model_folder

SQUARE = np.ones((28, 28), np.float32)
DISK = disk_grid()


def torchvision_style_outputs() -> dict[str, np.ndarray]:
    boxes = np.array([[10, 20, 40, 50], [60, 60, 100, 90], [5, 100, 25, 120]], np.float32)
    return {
        "boxes": boxes,
        "labels": np.array([1, 2, 1], np.int64),
        "scores": np.array([0.95, 0.8, 0.3], np.float32),
        "mask_probs": np.stack([SQUARE, DISK, SQUARE])[:, None],
    }


def run_tile(model, tile: TileInfo, image_size: int = 128):  # type: ignore[no-untyped-def]
    image = np.zeros((image_size, image_size, 3), np.uint8)
    outputs = model.run(model.preprocess([image]))
    return model.postprocess(outputs, [tile])[0].instances


def plain_tile(
    size: int = 128, x: float = 0.0, y: float = 0.0, downsample: float = 1.0
) -> TileInfo:
    return TileInfo(0, x, y, size, size, downsample, (0, 0, size, size))


@pytest.fixture
def torchvision_model(tmp_path):  # type: ignore[no-untyped-def]
    folder = write_model_folder(
        tmp_path / "tv-maskrcnn", torchvision_style_outputs(), {}, classes=("Tumour", "Immune")
    )
    return load_model(folder, device="cpu")


def test_known_boxes_become_known_polygons(torchvision_model) -> None:  # type: ignore[no-untyped-def]
    instances = run_tile(torchvision_model, plain_tile())
    assert len(instances) == 2, "the 0.3-score detection is under the 0.5 threshold"
    square, disk = instances
    assert square.class_name == "Tumour" and disk.class_name == "Immune"
    assert square.score == pytest.approx(0.95) and disk.score == pytest.approx(0.8)
    # A full grid fills its box: pixels 10..40 x 20..50 (box corners inclusive, as torchvision).
    expected = box(10, 20, 41, 51)
    iou = square.geometry.intersection(expected).area / square.geometry.union(expected).area
    assert iou > 0.93
    # The disk covers 11/14 of the box's half-sizes (box 40 x 30 px): an ellipse there.
    ellipse_area = np.pi * (11 / 28 * 40) * (11 / 28 * 30)
    assert disk.geometry.area == pytest.approx(ellipse_area, rel=0.08)
    assert disk.geometry.centroid.distance(Point(80.5, 75.5)) < 1.0


def test_polygons_are_placed_in_level0_pixels(torchvision_model) -> None:  # type: ignore[no-untyped-def]
    at_origin = run_tile(torchvision_model, plain_tile())
    moved = run_tile(torchvision_model, plain_tile(x=1000.0, y=500.0, downsample=2.0))
    for a, b in zip(at_origin, moved, strict=True):
        ca, cb = a.geometry.centroid, b.geometry.centroid
        assert cb.x == pytest.approx(1000 + 2 * ca.x, abs=1e-6)
        assert cb.y == pytest.approx(500 + 2 * ca.y, abs=1e-6)
        assert b.geometry.area == pytest.approx(4 * a.geometry.area, rel=1e-6)


def test_masks_clipped_at_the_tile_edge(tmp_path) -> None:  # type: ignore[no-untyped-def]
    outputs = torchvision_style_outputs()
    outputs["boxes"][0] = [-10, -10, 20, 20]  # half outside the tile
    model = load_model(write_model_folder(tmp_path / "edge", outputs, {}), device="cpu")
    square = run_tile(model, plain_tile())[0]
    minx, miny, maxx, maxy = square.geometry.bounds
    assert minx == pytest.approx(0.0) and miny == pytest.approx(0.0)
    assert maxx == pytest.approx(21.0, abs=1.0) and maxy == pytest.approx(21.0, abs=1.0)


def test_logit_masks_and_thresholds_from_the_manifest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    outputs = torchvision_style_outputs()
    outputs["mask_probs"] = np.where(outputs["mask_probs"] > 0.5, 8.0, -8.0).astype(np.float32)
    params = {"masks_are": "logits", "score_threshold": 0.25}
    model = load_model(write_model_folder(tmp_path / "logits", outputs, params), device="cpu")
    instances = run_tile(model, plain_tile())
    assert len(instances) == 3
    expected = box(10, 20, 41, 51)
    assert instances[0].geometry.symmetric_difference(expected).area < 0.08 * expected.area


def test_bilinear_resize_matches_align_corners_false() -> None:
    grid = np.arange(16, dtype=np.float32).reshape(4, 4)
    up = resize_bilinear(grid, 8, 8)
    # align_corners=False: output pixel 0 samples source -0.25 -> clamped to 0; pixel 1 -> 0.25.
    assert up[0, 0] == pytest.approx(0.0)
    assert up[0, 1] == pytest.approx(0.25)
    assert up[1, 0] == pytest.approx(1.0)
    assert up[7, 7] == pytest.approx(15.0)
    same = resize_bilinear(grid, 4, 4)
    np.testing.assert_allclose(same, grid, atol=1e-6)


def test_only_the_largest_component_is_kept() -> None:
    grid = np.zeros((28, 28), np.float32)
    grid[4:20, 4:20] = 1.0
    grid[24:27, 24:27] = 1.0  # a speck in the corner
    pasted = paste_mask(grid, np.array([0, 0, 55, 55], np.float32), (64, 64))
    assert pasted is not None
    polygon = instance_polygon(pasted)
    assert polygon is not None and polygon.geom_type == "Polygon"
    assert polygon.bounds[2] < 45, "the speck near (50, 50) is not part of the outline"


def test_missing_output_name_is_reported_with_the_models_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = write_model_folder(
        tmp_path / "badnames", torchvision_style_outputs(), {"masks_output": "masks"}
    )
    model = load_model(folder, device="cpu")
    with pytest.raises(ManifestError) as raised:
        run_tile(model, plain_tile())
    message = str(raised.value)
    assert "tilescope-model.yaml" in message and "'masks'" in message
    assert "mask_probs" in message, "the message lists the outputs the model does have"
