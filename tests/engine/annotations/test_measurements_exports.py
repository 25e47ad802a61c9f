"""Measurements, the measurements CSV, label masks (TIFF, OME-Zarr) and COCO export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import shapely
import tifffile

from tilescope.engine.annotations import Annotation, ShapeType
from tilescope.engine.annotations.formats import coco, label_mask, write_annotations
from tilescope.engine.annotations.measurements import measure, mpp_pair


def test_measure_rectangle_in_pixels_and_microns() -> None:
    m = measure(shapely.box(10, 20, 110, 70), mpp=0.5)
    assert (m.area_px, m.perimeter_px, m.centroid_x, m.centroid_y) == (5000, 300, 60, 45)
    assert m.area_um2 == pytest.approx(1250) and m.perimeter_um == pytest.approx(150)
    anisotropic = measure(shapely.box(0, 0, 10, 10), mpp=(0.5, 2.0))
    assert anisotropic.area_um2 == pytest.approx(100)
    assert anisotropic.perimeter_um == pytest.approx(2 * 5 + 2 * 20)
    assert measure(shapely.Point(1, 2)).area_um2 is None
    with pytest.raises(ValueError):
        mpp_pair(0)


def test_csv_has_measurements_per_object(tmp_path: Path) -> None:
    objects = [
        Annotation(
            shapely.box(0, 0, 10, 20),
            ShapeType.RECTANGLE,
            "Tumor",
            name="r",
            measurements={"Nuclei": 4.0},
            properties={"by": "me"},
        ),
        Annotation(shapely.Point(5, 5), ShapeType.POINT, None, score=0.5),
    ]
    write_annotations(objects, tmp_path / "m.csv", mpp=0.25)
    rows = list(csv.DictReader((tmp_path / "m.csv").open(encoding="utf-8")))
    assert rows[0]["class"] == "Tumor" and float(rows[0]["area_px"]) == 200
    assert float(rows[0]["area_um2"]) == pytest.approx(12.5)
    assert float(rows[0]["centroid_y_px"]) == 10
    assert rows[0]["Nuclei"] == "4.0" and json.loads(rows[0]["properties"]) == {"by": "me"}
    assert rows[1]["area_px"] == "0.0" and rows[1]["score"] == "0.5" and rows[1]["Nuclei"] == ""


def test_label_mask_tiff_and_zarr(tmp_path: Path) -> None:
    objects = [
        Annotation(
            shapely.box(0, 0, 40, 40).difference(shapely.box(10, 10, 20, 20)), class_name="Tumor"
        ),
        Annotation(shapely.box(60, 0, 100, 20), class_name="Stroma"),
    ]
    labels = label_mask.write(objects, tmp_path / "m.tif", 100, 50, downsample=2)
    mask = tifffile.imread(tmp_path / "m.tif")
    assert mask.shape == (25, 50)
    assert labels == {"Tumor": 1, "Stroma": 2}
    assert (mask == 1).sum() == 20 * 20 - 5 * 5
    assert (mask == 2).sum() == 20 * 10
    assert mask[7, 7] == 0  # the hole
    label_mask.write(objects, tmp_path / "m.zarr", 100, 50, downsample=2, instances=True)
    import zarr

    group = zarr.open_group(str(tmp_path / "m.zarr"), mode="r")
    assert np.array_equal(np.asarray(group["0"]) > 0, mask > 0)
    assert group.attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0][
        "scale"
    ] == [2, 2]


def test_coco_region_export(tmp_path: Path) -> None:
    objects = [
        Annotation(shapely.box(100, 100, 120, 110), class_name="Tumor", score=0.9),
        Annotation(shapely.box(190, 100, 250, 110), class_name="Stroma"),  # clipped at x=200
        Annotation(shapely.box(500, 500, 510, 510), class_name="Tumor"),  # outside
    ]
    doc = coco.write(objects, tmp_path / "c.json", (100, 100, 200, 200), image_file_name="t.png")
    assert [c["name"] for c in doc["categories"]] == ["Tumor", "Stroma"]
    assert len(doc["annotations"]) == 2
    first, second = doc["annotations"]
    assert first["bbox"] == [0, 0, 20, 10] and first["area"] == 200
    assert second["bbox"] == [90, 0, 10, 10] and second["category_id"] == 2
    assert json.loads((tmp_path / "c.json").read_text())["images"][0]["width"] == 100
