"""The scripting API: run a model on an image, a slide region, and into a folder."""

from __future__ import annotations

from pathlib import Path

import tilescope.api as ts
from tests.engine.inference.synthetic import disc_image, model_folder


def test_run_model_on_numpy_image(tmp_path: Path) -> None:
    image, discs = disc_image(200, 150, count=15, seed=21)
    result = ts.run_model(image, ts.load_model(model_folder(tmp_path)))
    shapes = ts.polygons(result.annotations)
    assert len(shapes) == len(discs)
    geometry, score, name = shapes[0]
    assert geometry.area > 0 and 0 < (score or 0) <= 1 and name == "Disc"


def test_run_model_on_slide_region_by_id(cmu_small_svs: Path) -> None:
    with ts.open_slide(cmu_small_svs) as slide:
        result = ts.run_model(slide, "nuclei-he", region=(1000, 1000, 300, 300), device="cpu")
    assert result.annotations, "nuclei-he finds nuclei in a tissue region"
    for a in result.annotations:
        c = a.geometry.centroid
        assert 1000 <= c.x < 1300 and 1000 <= c.y < 1300


def test_infer_to_folder(tmp_path: Path) -> None:
    import tifffile

    image, discs = disc_image(160, 120, count=10, seed=22)
    slide = tmp_path / "s.tif"
    tifffile.imwrite(slide, image, photometric="rgb")
    job = ts.infer_to_folder(
        slide, ts.load_model(model_folder(tmp_path)), tmp_path / "out", store=False
    )
    assert job.geojson.exists() and len(job.summary.annotations) == len(discs)
