"""Tile plans tile the region exactly; tissue detection keeps tissue and drops glass."""

from __future__ import annotations

import numpy as np
import pytest

from tilescope.engine.inference.tiling import clip_region, model_resolution, plan_tiles
from tilescope.engine.inference.tissue import TissueMap, detect_tissue, tissue_mask
from tilescope.engine.inference.types import TileSpec
from tilescope.engine.slide.metadata import Level, SlideMetadata


def _meta(w: int, h: int, mpp: float | None = 0.25) -> SlideMetadata:
    return SlideMetadata("test", (Level(w, h, 1.0),), (mpp, mpp) if mpp else None)


@pytest.mark.parametrize("downsample", [1.0, 2.0, 3.3])
def test_cores_cover_the_region_once(downsample: float) -> None:
    meta = _meta(1000, 700)
    spec = TileSpec((128, 96), overlap=32, halo=8)
    region = (37.0, 21.0, 900.0, 650.0)
    tiles = plan_tiles(region, meta, spec, downsample)
    cover = np.zeros((700, 1000), dtype=int)
    for t in tiles:
        x0, y0, x1, y1 = t.level0_core
        cover[round(y0) : round(y1), round(x0) : round(x1)] += 1
    inside = cover[21 : 21 + 650, 37 : 37 + 900]
    assert inside.min() >= 1
    # cores do not overlap (up to rounding at fractional downsamples)
    assert (cover > 1).mean() < 0.01


def test_inner_edges_are_false_at_the_slide_border() -> None:
    meta = _meta(300, 300)
    tiles = plan_tiles((0, 0, 300, 300), meta, TileSpec((128, 128), overlap=32), 1.0)
    first, last = tiles[0], tiles[-1]
    assert first.inner_edges[:2] == (False, False)
    assert last.inner_edges[2:] == (False, False)
    assert first.inner_edges[2] and last.inner_edges[0]


def test_model_resolution_from_slide_mpp_and_native_fallback() -> None:
    spec = TileSpec((64, 64), mpp=0.5)
    assert model_resolution(spec, _meta(10, 10, 0.25)).downsample == pytest.approx(2.0)
    no_mpp = model_resolution(spec, _meta(10, 10, None))
    assert no_mpp.downsample == 1.0 and "native" in (no_mpp.note or "")
    assert model_resolution(TileSpec((64, 64)), _meta(10, 10)).note


def test_region_outside_slide_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        clip_region((2000, 0, 10, 10), _meta(100, 100))


def test_fully_tissue_image_is_kept_whole() -> None:
    rng = np.random.default_rng(0)
    tissue = np.zeros((200, 200, 3), dtype=np.uint8)
    tissue[..., 0] = rng.integers(150, 230, (200, 200))  # pink, varied
    tissue[..., 1] = rng.integers(60, 140, (200, 200))
    tissue[..., 2] = rng.integers(140, 210, (200, 200))
    assert tissue_mask(tissue).mean() > 0.99


def test_glass_is_not_tissue_and_a_blob_is() -> None:
    image = np.full((200, 200, 3), 242, dtype=np.uint8)
    image += np.random.default_rng(1).integers(0, 6, image.shape, dtype=np.uint8)
    assert tissue_mask(image).mean() < 0.01
    image[50:120, 60:150] = (180, 90, 170)
    mask = tissue_mask(image)
    assert mask[60:110, 70:140].all() and mask[:40].sum() == 0


def test_real_slide_tissue_fraction(cmu_small_svs) -> None:
    from tilescope.engine.slide import open_slide

    with open_slide(cmu_small_svs) as slide:
        tissue = detect_tissue(slide)
    assert 0.2 < tissue.fraction < 0.8  # a strip of skin on white glass
    assert isinstance(tissue, TissueMap)
    assert not tissue.has_tissue((0, 0, 200, 200))  # top-left corner is glass


def test_resolution_snaps_to_a_level_within_three_percent() -> None:
    spec = TileSpec((64, 64), mpp=0.5)
    assert model_resolution(spec, _meta(10, 10, 0.499)).downsample == 1.0
    assert model_resolution(spec, _meta(10, 10, 0.45)).downsample == pytest.approx(0.5 / 0.45)
