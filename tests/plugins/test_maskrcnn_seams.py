"""Seams: instances across tile borders are found whole, once, through the runner.

A real H&E tile (400 x 400 px of MICCAI 2015 image01, 0.5 um/px) is served as an in-memory
slide and run with the shipped `nuclei-maskrcnn` twice: as one tile, and cut into 160-pixel
tiles so that dozens of nuclei lie across tile borders. The runner's centroid-in-core rule
keeps each object in one tile; its seam filter (tilescope.engine.inference.seams) drops the
copies left when two tiles' slightly different outlines put the centroid on either side of
the seam.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from shapely import STRtree

from tests.conftest import shared_file
from tilescope.engine.annotations.model import Annotation
from tilescope.engine.inference.memory_slide import ArraySlide
from tilescope.engine.inference.metrics import instance_f1, rasterize
from tilescope.engine.inference.runner import run_on_slide
from tilescope.engine.inference.types import TileSpec
from tilescope.plugins.catalog import load_model

SMALL_PATCH = 160
MIN_WHOLE_FRACTION = 0.9  # seam-crossing nuclei of the one-tile run found whole when tiled
MAX_F1_LOSS = 0.05  # instance F1@0.5 of the tiled run vs the one-tile run


def duplicate_pairs(annotations: list[Annotation], iou: float = 0.5) -> int:
    geometries = [a.geometry for a in annotations]
    left, right = STRtree(geometries).query(geometries, predicate="intersects")
    return sum(
        1
        for i, j in zip(left.tolist(), right.tolist(), strict=True)
        if i < j and polygon_iou(annotations[i], annotations[j]) > iou
    )


def polygon_iou(a: Annotation, b: Annotation) -> float:
    inter = a.geometry.intersection(b.geometry).area
    return float(inter / (a.geometry.area + b.geometry.area - inter)) if inter > 0 else 0.0


@pytest.fixture(scope="module")
def image01() -> tuple[np.ndarray, np.ndarray]:
    """400 x 400 px (image, labels): ~180 nuclei, well under the model's 300 detections per
    image, so the one-tile reference run is not capped."""
    from tilescope.training.corpus.sources import read_labels, read_rgb

    image = read_rgb(shared_file("nuclei", "miccai2015", "image01.png"))  # 20x: 0.5 um/px
    labels = read_labels(shared_file("nuclei", "miccai2015", "image01_label.png"))
    crop = (slice(0, 400), slice(0, 400))
    return np.ascontiguousarray(image[crop]), np.ascontiguousarray(labels[crop])


def f1(annotations: list[Annotation], truth: np.ndarray) -> float:
    ordered = sorted(annotations, key=lambda a: a.score or 0.0)  # higher scores paint last
    return instance_f1(truth, rasterize([a.geometry for a in ordered], truth.shape)).f1


def with_patch(model, patch: int):  # type: ignore[no-untyped-def]
    class Patched(type(model)):  # type: ignore[misc]
        def tile_spec(self) -> TileSpec:
            return dataclasses.replace(super().tile_spec(), patch_size=(patch, patch))

    return Patched(model.model)


def test_objects_across_tile_borders_are_whole_and_single(
    image01: tuple[np.ndarray, np.ndarray],
) -> None:
    image, truth = image01
    model = load_model("nuclei-maskrcnn", device="cpu")
    height, width = image.shape[:2]
    margin = model.tile_spec().margin
    one_tile = with_patch(model, 32 * ((max(height, width) + 2 * margin + 31) // 32))
    tiled = with_patch(model, SMALL_PATCH)
    with ArraySlide(image, mpp=0.5) as slide:
        reference = run_on_slide(slide, one_tile)
        result = run_on_slide(slide, tiled)
    assert reference.tiles_run == 1 and result.tiles_run >= 16

    stride = SMALL_PATCH - 2 * tiled.tile_spec().margin
    seams_x = np.arange(stride, width, stride)
    seams_y = np.arange(stride, height, stride)

    def crosses_seam(a: Annotation) -> bool:
        x0, y0, x1, y1 = a.geometry.bounds
        return bool(
            ((seams_x > x0) & (seams_x < x1)).any() or ((seams_y > y0) & (seams_y < y1)).any()
        )

    crossing = [a for a in reference.annotations if crosses_seam(a)]
    # The one-tile reference runs the corpus-trained model on a 768 px patch, where it finds
    # fewer nuclei than at its own 384 px (GroupNorm statistics over a larger, fuller patch):
    # 16 of its objects cross a seam of the 160 px tiling.
    assert len(crossing) >= 15, "the tiling must put many nuclei across borders"
    found = [a.geometry for a in result.annotations]
    tree = STRtree(found)
    whole = 0
    for ref in crossing:
        candidates = tree.query(ref.geometry, predicate="intersects")
        best = max(
            (polygon_iou(ref, result.annotations[i]) for i in candidates.tolist()), default=0.0
        )
        whole += best > 0.5
    print(
        f"\nseam-crossing nuclei: {len(crossing)}, found whole when tiled: {whole}; "
        f"objects: "
        f"{len(reference.annotations)} as one tile, {len(result.annotations)} tiled"
    )
    assert whole >= MIN_WHOLE_FRACTION * len(crossing)

    # The runner's seam filter already dropped the copies two tiles made of one nucleus.
    assert duplicate_pairs(result.annotations) == 0
    f1_one, f1_tiled = f1(reference.annotations, truth), f1(result.annotations, truth)
    print(f"F1@0.5 one tile {f1_one:.3f}, tiled {f1_tiled:.3f}")
    assert f1_tiled >= f1_one - MAX_F1_LOSS
