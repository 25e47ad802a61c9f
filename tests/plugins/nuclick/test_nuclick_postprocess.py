"""Mask -> object -> polygon: component under the click, holes, specks, pixel corners."""

from __future__ import annotations

import numpy as np
from shapely.geometry import MultiPolygon, Polygon, box

from tilescope.plugins.nuclick.encoding import PatchWindow
from tilescope.plugins.nuclick.postprocess import mask_to_geometry, select_object, to_level0


def test_square_mask_gives_the_exact_square_in_pixel_corner_coordinates() -> None:
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:6, 3:7] = True  # rows 2..5, columns 3..6
    geometry = mask_to_geometry(mask, tolerance=0.5)
    assert isinstance(geometry, Polygon)
    assert geometry.equals(box(3, 2, 7, 6))
    assert len(geometry.exterior.coords) == 5  # four corners, closed
    assert geometry.area == mask.sum()


def test_outline_area_equals_pixel_count_for_any_shape() -> None:
    rng = np.random.default_rng(3)
    mask = np.zeros((40, 40), dtype=bool)
    yy, xx = np.mgrid[0:40, 0:40]
    mask[(yy - 20) ** 2 / 120 + (xx - 18) ** 2 / 60 <= 1] = True
    mask[rng.random(mask.shape) < 0.02] = False  # ragged holes
    mask[0:3, 0:40] = True  # touches the patch border
    geometry = mask_to_geometry(mask)
    assert geometry.area == mask.sum()
    assert geometry.is_valid


def test_simplification_stays_within_tolerance() -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    mask = (yy - 32) ** 2 + (xx - 30) ** 2 <= 15**2
    exact = mask_to_geometry(mask)
    simple = mask_to_geometry(mask, tolerance=0.5)
    assert len(simple.exterior.coords) < len(exact.exterior.coords)
    assert exact.hausdorff_distance(simple) <= 0.5 + 1e-9


def _two_blobs() -> np.ndarray:
    prob = np.zeros((32, 32), dtype=np.float32)
    prob[4:12, 4:12] = 0.9
    prob[18:28, 16:26] = 0.8
    return prob


def test_select_object_keeps_the_component_under_the_click_only() -> None:
    prob = _two_blobs()
    click = np.zeros_like(prob, dtype=bool)
    click[7:9, 7:9] = True
    mask = select_object(prob, click, threshold=0.5, min_area=0)
    assert mask is not None
    assert mask.sum() == 64 and mask[7, 7] and not mask[20, 20]


def test_select_object_fills_holes() -> None:
    prob = np.zeros((20, 20), dtype=np.float32)
    prob[3:15, 3:15] = 1.0
    prob[7:10, 7:10] = 0.0  # a hole
    click = np.zeros_like(prob, dtype=bool)
    click[4, 4] = True
    mask = select_object(prob, click, threshold=0.5, min_area=0)
    assert mask is not None and mask[8, 8] and mask.sum() == 144


def test_nothing_under_the_click_is_none_and_specks_are_dropped() -> None:
    prob = _two_blobs()
    background = np.zeros_like(prob, dtype=bool)
    background[0, 31] = True
    assert select_object(prob, background, 0.5, 0) is None
    speck = np.zeros_like(prob)
    speck[3:5, 3:5] = 1.0
    click = np.zeros_like(prob, dtype=bool)
    click[3, 3] = True
    assert select_object(speck, click, 0.5, min_area=10) is None
    assert select_object(speck, click, 0.5, min_area=4) is not None


def test_squiggle_touching_two_parts_gives_a_multipolygon() -> None:
    prob = _two_blobs()
    squiggle = np.zeros_like(prob, dtype=bool)
    squiggle[8, 8] = squiggle[22, 20] = True
    mask = select_object(prob, squiggle, 0.5, 0)
    assert mask is not None
    geometry = mask_to_geometry(mask)
    assert isinstance(geometry, MultiPolygon) and geometry.area == 164


def test_patch_coordinates_map_to_level0_with_origin_and_downsample() -> None:
    window = PatchWindow(x=1000.0, y=2000.0, width=64, height=64, downsample=2.0)
    level0 = to_level0(box(3, 2, 7, 6), window)
    assert level0.equals(box(1006, 2004, 1014, 2012))
