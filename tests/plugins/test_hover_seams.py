"""Seams of `pixel-instances`: nuclei across tile borders are found whole, once.

1. Engine + plugin, no model: a synthetic slide of dark nuclei whose NP/HV maps a stand-in
   "network" derives from each tile's own pixels, so a nucleus cut by a tile edge gets a
   wrong HV there. Run as many small tiles, every nucleus must still come out whole and
   exactly once (margins, centroid-in-core, inner-edge rule).
2. The shipped `nuclei-he` on a held-out MoNuSeg breast tile (needs ../shared): small tiles
   against one tile, as tests/plugins/test_maskrcnn_seams.py does for Mask R-CNN.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage as ndi
from shapely import STRtree

from tests.conftest import shared_file
from tests.plugins.test_hover_postprocess import discs, hv_maps
from tilescope.engine.annotations.model import Annotation
from tilescope.engine.inference.memory_slide import ArraySlide
from tilescope.engine.inference.metrics import aji, instance_f1, rasterize
from tilescope.engine.inference.runner import RunOptions, run_on_slide
from tilescope.engine.inference.types import TileSpec
from tilescope.plugins.base import LoadedModel
from tilescope.plugins.catalog import load_model
from tilescope.plugins.hover.model_type import PixelInstancesType
from tilescope.plugins.manifest import (
    ClassInfo,
    InputSpec,
    ModelManifest,
    Normalisation,
)

MODEL_ID = "nuclei-he"
SMALL_PATCH = 160
MIN_WHOLE_FRACTION = 0.9
MAX_F1_LOSS = 0.03


def polygon_iou(a: Annotation, b: Annotation) -> float:
    inter = a.geometry.intersection(b.geometry).area
    return float(inter / (a.geometry.area + b.geometry.area - inter)) if inter > 0 else 0.0


def duplicate_pairs(annotations: list[Annotation], iou: float = 0.5) -> int:
    geometries = [a.geometry for a in annotations]
    left, right = STRtree(geometries).query(geometries, predicate="intersects")
    return sum(
        1
        for i, j in zip(left.tolist(), right.tolist(), strict=True)
        if i < j and polygon_iou(annotations[i], annotations[j]) > iou
    )


def labels_of(annotations: list[Annotation], shape: tuple[int, int]) -> np.ndarray:
    ordered = sorted(annotations, key=lambda a: a.score or 0.0)
    return rasterize([a.geometry for a in ordered], shape)


class PixelStandIn(PixelInstancesType):
    """Maps from the tile's own pixels: NP = dark, HV from the tile's dark components."""

    def input_name(self) -> str:
        return "image"

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = []
        for image in inputs["image"]:
            dark = image.mean(axis=0) < 0.5
            components, _ = ndi.label(dark)
            out.append(np.concatenate([dark[None].astype(np.float32), hv_maps(components)]))
        return [np.stack(out)]


def stand_in(tmp_path: Path, patch: int) -> PixelStandIn:
    manifest = ModelManifest(
        id="stand-in",
        name="stand-in",
        version="1",
        description="",
        licence="MIT",
        type="pixel-instances",
        onnx="none.onnx",
        sha256="0" * 64,
        input=InputSpec(0.5, (patch, patch), 64, 32, 4, "RGB", Normalisation("scale", 1 / 255)),
        output_kind="instances",
        classes=(ClassInfo("Nucleus"),),
        parameters={},
        prompted=False,
        tissue_detection=False,
        folder=tmp_path,
    )
    params = PixelInstancesType.validate_parameters(manifest)
    return PixelStandIn(LoadedModel(manifest, params, device="cpu"))


def test_synthetic_nuclei_across_seams_are_whole_and_single(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    size = 520
    grid = [(y, x) for y in range(14, size - 14, 26) for x in range(14, size - 14, 26)]
    centres = [(int(y + rng.integers(-3, 4)), int(x + rng.integers(-3, 4))) for y, x in grid]
    truth = discs((size, size), centres, 7.0)  # 6 px or more apart: no touching
    image = np.where(truth[..., None] > 0, 60, 235).astype(np.uint8).repeat(3, axis=2)
    model = stand_in(tmp_path, SMALL_PATCH)
    with ArraySlide(image, mpp=0.5) as slide:
        result = run_on_slide(slide, model, RunOptions(tissue_detection=False))
    assert result.tiles_run >= 25
    predicted = labels_of(result.annotations, truth.shape)
    assert len(result.annotations) == len(centres)
    assert instance_f1(truth, predicted).f1 == 1.0
    assert aji(truth, predicted) > 0.9
    assert duplicate_pairs(result.annotations) == 0


def with_patch(model: Any, patch: int) -> Any:
    class Patched(type(model)):  # type: ignore[misc]
        def tile_spec(self) -> TileSpec:
            return dataclasses.replace(super().tile_spec(), patch_size=(patch, patch))

    return Patched(model.model)


@pytest.fixture(scope="module")
def breast_tile() -> tuple[np.ndarray, np.ndarray]:
    from tilescope.training.corpus.runtime_eval import holdout_tiles

    data = Path(shared_file("nuclei", "monuseg_train", "source.json")).parents[1]
    tile = next(t for t in holdout_tiles(data) if t.name == "TCGA-A7-A13E-01Z-00-DX1")
    return np.ascontiguousarray(tile.image), np.ascontiguousarray(tile.labels)


def test_shipped_model_across_tile_borders(breast_tile: tuple[np.ndarray, np.ndarray]) -> None:
    image, truth = breast_tile
    model = load_model(MODEL_ID, device="cpu")
    height, width = image.shape[:2]
    margin = model.tile_spec().margin
    one_tile = with_patch(model, 32 * ((max(height, width) + 2 * margin + 31) // 32))
    tiled = with_patch(model, SMALL_PATCH)
    options = RunOptions(tissue_detection=False)
    with ArraySlide(image, mpp=0.5) as slide:
        reference = run_on_slide(slide, one_tile, options)
        result = run_on_slide(slide, tiled, options)
    assert reference.tiles_run == 1 and result.tiles_run >= 16
    stride = SMALL_PATCH - 2 * margin
    seams_x = np.arange(stride, width, stride)
    seams_y = np.arange(stride, height, stride)

    def crosses_seam(a: Annotation) -> bool:
        x0, y0, x1, y1 = a.geometry.bounds
        return bool(
            ((seams_x > x0) & (seams_x < x1)).any() or ((seams_y > y0) & (seams_y < y1)).any()
        )

    crossing = [a for a in reference.annotations if crosses_seam(a)]
    assert len(crossing) >= 25
    tree = STRtree([a.geometry for a in result.annotations])
    whole = 0
    for ref in crossing:
        candidates = tree.query(ref.geometry, predicate="intersects").tolist()
        whole += max((polygon_iou(ref, result.annotations[i]) for i in candidates), default=0) > 0.5
    f1_one = instance_f1(truth, labels_of(reference.annotations, truth.shape)).f1
    f1_tiled = instance_f1(truth, labels_of(result.annotations, truth.shape)).f1
    print(
        f"\nseam-crossing nuclei {len(crossing)}, whole when tiled {whole}; "
        f"F1@0.5 one tile {f1_one:.3f}, tiled {f1_tiled:.3f}"
    )
    assert whole >= MIN_WHOLE_FRACTION * len(crossing)
    assert duplicate_pairs(result.annotations) == 0
    assert f1_tiled >= f1_one - MAX_F1_LOSS
