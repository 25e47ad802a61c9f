"""Instances across tile borders: each object found once and whole (centroid-in-core rule)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point

from tests.engine.inference.synthetic import disc_image, model_folder
from tilescope.engine.inference.memory_slide import ArraySlide
from tilescope.engine.inference.runner import RunOptions, run_on_slide
from tilescope.plugins.catalog import load_model


def _match(found, discs):
    """For each disc, the detections overlapping it, and the IoU of the best."""
    report = []
    for cx, cy, r in discs:
        truth = Point(cx, cy).buffer(r, quad_segs=32)
        hits = [a for a in found if a.geometry.intersects(truth)]
        iou = max(
            (a.geometry.intersection(truth).area / a.geometry.union(truth).area for a in hits),
            default=0.0,
        )
        report.append((len(hits), iou))
    return report


@pytest.mark.parametrize("batch_size", [1, 3])
def test_discs_across_tile_borders_found_once_and_whole(tmp_path: Path, batch_size: int) -> None:
    image, discs = disc_image(300, 230, count=60, radius=(3, 9), seed=1)
    model = load_model(model_folder(tmp_path, patch=64, overlap=32, batch_size=batch_size))
    with ArraySlide(image) as slide:
        summary = run_on_slide(slide, model, RunOptions())
    assert summary.tiles_total > 40  # stride 32 over 300 x 230: many borders crossed
    found = summary.annotations
    report = _match(found, discs)
    assert len(found) == len(discs)
    assert all(hits == 1 for hits, _ in report), "a disc was found twice or not at all"
    # a half disc would score IoU <= 0.5; small rasterised discs score ~0.8-0.95 whole
    assert min(iou for _, iou in report) > 0.75, "a disc was cut at a tile border"
    raster_area = {
        round(cx, 3): float(
            (
                (np.mgrid[0:230, 0:300][1] + 0.5 - cx) ** 2
                + (np.mgrid[0:230, 0:300][0] + 0.5 - cy) ** 2
                <= r * r
            ).sum()
        )
        for cx, cy, r in discs
    }
    for a in found:
        disc = min(discs, key=lambda d: a.geometry.centroid.distance(Point(d[0], d[1])))
        assert a.geometry.area > 0.85 * raster_area[round(disc[0], 3)]
    assert len({a.id for a in found}) == len(found)
    # Many discs straddle a core border, so the rule was exercised, not avoided.
    stride = 64 - 32
    crossing = [d for d in discs if int((d[0] - d[2]) // stride) != int((d[0] + d[2]) // stride)]
    assert len(crossing) > 10


def test_without_the_rule_objects_would_duplicate(tmp_path: Path) -> None:
    """Control: the same plan with the filter disabled does produce duplicates and halves."""
    from tilescope.engine.inference import runner

    image, discs = disc_image(200, 200, count=30, radius=(4, 8), seed=2)
    model = load_model(model_folder(tmp_path))
    original = runner.filter_instances
    runner.filter_instances = lambda annotations, tile: annotations
    try:
        with ArraySlide(image) as slide:
            raw = run_on_slide(slide, model, RunOptions()).annotations
    finally:
        runner.filter_instances = original
    assert len(raw) > len(discs)


def test_region_keeps_only_objects_whose_centroid_is_inside(tmp_path: Path) -> None:
    image, discs = disc_image(260, 260, count=40, radius=(3, 7), seed=3)
    model = load_model(model_folder(tmp_path))
    region = (50.0, 60.0, 120.0, 100.0)
    with ArraySlide(image) as slide:
        found = run_on_slide(slide, model, RunOptions(region=region)).annotations
    inside = [d for d in discs if 50 <= d[0] < 170 and 60 <= d[1] < 160]
    assert len(found) == len(inside)
    for a in found:
        c = a.geometry.centroid
        assert 50 <= c.x < 170 and 60 <= c.y < 160


def test_probability_map_written_as_ome_zarr(tmp_path: Path) -> None:
    import zarr

    from tilescope.engine.inference.stitching import ProbabilityZarr

    image, _ = disc_image(300, 200, count=20, seed=4)
    model = load_model(model_folder(tmp_path))
    with ArraySlide(image, mpp=0.5) as slide:

        def maps(downsample: float) -> ProbabilityZarr:
            return ProbabilityZarr(tmp_path / "p.zarr", (300, 200), downsample, 1, (0.5, 0.5))

        run_on_slide(slide, model, RunOptions(), probability_maps=maps)
    group = zarr.open_group(str(tmp_path / "p.zarr"), mode="r")
    ms = group.attrs["multiscales"][0]
    assert ms["version"] == "0.4"
    assert [a["name"] for a in ms["axes"]] == ["c", "y", "x"]
    level0 = np.asarray(group["0"])
    assert level0.shape == (1, 200, 300)
    truth = image[..., 0]
    # identity model: the stitched map is the image itself, seams included
    assert np.abs(level0[0].astype(int) - truth.astype(int)).max() <= 1


def test_downsampled_run_returns_level0_geometry(tmp_path: Path) -> None:
    """Slide at 0.25 µm/px, model at 0.5: tiles are read at downsample 2, objects come back
    in level-0 pixels, each once, with the halo kept out of the cores."""
    image, discs = disc_image(480, 400, count=25, radius=(8, 14), seed=9)
    folder = model_folder(
        tmp_path,
        patch=64,
        overlap=32,
        halo=4,
        extra={
            "input": {
                "mpp": 0.5,
                "patch_size": 64,
                "overlap": 32,
                "halo": 4,
                "batch_size": 4,
                "channel_order": "gray",
                "normalisation": {"kind": "scale", "scale": 1 / 255},
            }
        },
    )
    model = load_model(folder)
    with ArraySlide(image, mpp=0.25) as slide:
        summary = run_on_slide(slide, model, RunOptions())
    assert summary.downsample == pytest.approx(2.0)
    report = _match(summary.annotations, discs)
    assert len(summary.annotations) == len(discs)
    assert all(hits == 1 for hits, _ in report)
    assert min(iou for _, iou in report) > 0.7
