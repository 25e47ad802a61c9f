"""The two non-tile paths of the plugin API: whole-image types and prompted types."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from shapely.geometry import Point, box

import tilescope.api as ts
from tests.engine.inference.synthetic import model_folder
from tilescope.engine.annotations.model import Annotation
from tilescope.engine.inference.memory_slide import ArraySlide
from tilescope.engine.inference.runner import RunOptions, run_on_slide
from tilescope.engine.inference.types import Prompt, RegionInfo, TileInfo, TileResult
from tilescope.plugins import registry
from tilescope.plugins.base import ModelType
from tilescope.plugins.catalog import load_model
from tilescope.plugins.manifest import ManifestError


class BrightBoxes(ModelType):
    """Whole-image type: one box around all bright pixels of the page, via the real model."""

    type_name: ClassVar[str] = "test-page"
    whole_image: ClassVar[bool] = True

    def postprocess(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[TileResult]:
        raise AssertionError("a whole-image type is never fed tiles")

    def run_region(self, image: np.ndarray, region: RegionInfo) -> list[Annotation]:
        probability = self.run(self.preprocess([image]))[0][0, 0]
        ys, xs = np.nonzero(probability > 0.5)
        geometry = box(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        return [Annotation(region.to_level0(geometry), class_name="Disc")]


class ClickDiscs(ModelType):
    """Prompted type: a disc of fixed radius around each click (no model call needed)."""

    type_name: ClassVar[str] = "test-click"
    prompted: ClassVar[bool] = True

    def postprocess(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[TileResult]:
        return [TileResult() for _ in tiles]

    def segment_prompts(self, slide, prompts: list[Prompt]) -> list[Annotation]:  # type: ignore[no-untyped-def]
        return [Annotation(Point(*p.points[0]).buffer(5)) for p in prompts if p.kind == "point"]


@pytest.fixture(autouse=True)
def _types() -> None:
    registry.register_type(BrightBoxes)
    registry.register_type(ClickDiscs)


def test_whole_image_type_gets_one_region_in_level0(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, model_id="page", extra={"type": "test-page"}, parameters={})
    model = load_model(folder)
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    image[100:140, 200:260] = 255
    with ArraySlide(image) as slide:
        summary = run_on_slide(slide, model, RunOptions(region=(150, 50, 200, 200)))
    (found,) = summary.annotations
    assert found.geometry.bounds == (200.0, 100.0, 260.0, 140.0)
    assert found.run_id == summary.run_id and summary.tiles_run == 1


def test_prompted_type_through_the_api(tmp_path: Path) -> None:
    folder = model_folder(
        tmp_path, model_id="clicks", extra={"type": "test-click", "prompted": True}, parameters={}
    )
    model = load_model(folder)
    with ArraySlide(np.zeros((50, 50, 3), np.uint8)) as slide:
        objects = ts.segment(slide, model, [Prompt("point", ((20.0, 30.0),))])
    assert len(objects) == 1 and objects[0].geometry.centroid.distance(Point(20, 30)) < 0.1


def test_prompted_flag_must_agree_with_the_type(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, model_id="clicks", extra={"type": "test-click"}, parameters={})
    with pytest.raises(ManifestError, match=r"key 'prompted': must be true"):
        load_model(folder)


def test_prompt_validation() -> None:
    with pytest.raises(ValueError, match="exactly one point"):
        Prompt("point", ((1, 2), (3, 4)))
    with pytest.raises(ValueError, match="'point' or 'squiggle'"):
        Prompt("lasso", ((1, 2),))  # type: ignore[arg-type]
    assert len(Prompt("squiggle", ((0, 0), (5, 5), (9, 2))).points) == 3
