"""Mask -> object -> polygon: component under the click, holes, specks, pixel corners, and the
smooth outline along the probability's iso-line."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi
from shapely.geometry import MultiPolygon, Point, Polygon, box

from tilescope.plugins.nuclick.encoding import PatchWindow
from tilescope.plugins.nuclick.postprocess import (
    mask_to_geometry,
    probability_outline,
    select_object,
    to_level0,
)


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


# probability_outline: the iso-line of the model's probability, restricted to the object.


def _rasterise(geometry, shape: tuple[int, int]) -> np.ndarray:
    from tests.plugins.nuclick.support import rasterise

    return rasterise(geometry, shape)


def _soft_disk(cx: float, cy: float, radius: float, size: int = 64) -> np.ndarray:
    """A probability that is 0.5 exactly on the circle (pixel-corner coordinates)."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    return 1.0 / (1.0 + np.exp((np.hypot(xx - cx, yy - cy) - radius) / 1.5))


def test_smooth_probability_gives_the_circle_not_a_staircase() -> None:
    prob = _soft_disk(30.2, 31.7, 9.3)
    click = np.zeros(prob.shape, dtype=bool)
    click[31, 30] = True
    mask = select_object(prob, click, 0.5, 10, single=True)
    assert mask is not None
    outline = probability_outline(prob, mask, 0.5)
    assert isinstance(outline, Polygon) and outline.is_valid
    circle = Point(30.2, 31.7).buffer(9.3, 256)
    assert outline.hausdorff_distance(circle) < 0.05  # the +0.5 pixel-centre shift included
    assert abs(outline.area - circle.area) < 0.005 * circle.area
    assert np.array_equal(_rasterise(outline, mask.shape), mask)  # the same pixels
    staircase = mask_to_geometry(mask)
    assert outline.hausdorff_distance(circle) < 0.2 * staircase.hausdorff_distance(circle)
    assert _right_angle_share(outline) == 0 and _right_angle_share(staircase) > 0.9


def _right_angle_share(polygon: Polygon) -> float:
    c = np.asarray(polygon.exterior.coords)[:-1]
    a, b = np.roll(c, -1, axis=0) - c, c - np.roll(c, 1, axis=0)
    cos = (a * b).sum(axis=1) / (np.hypot(*a.T) * np.hypot(*b.T))
    return float((np.abs(cos) < 0.02).mean())


def test_light_simplification_keeps_the_shape_and_drops_vertices() -> None:
    prob = _soft_disk(30.2, 31.7, 9.3)
    mask = prob > 0.5
    full = probability_outline(prob, mask, 0.5)
    light = probability_outline(prob, mask, 0.5, tolerance=0.2)
    assert len(light.exterior.coords) < 0.6 * len(full.exterior.coords)
    assert full.hausdorff_distance(light) <= 0.2 + 1e-9
    assert abs(light.area - full.area) < 0.02 * full.area


def test_saturated_mask_keeps_its_pixels_in_pixel_corner_coordinates() -> None:
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:6, 3:7] = True  # rows 2..5, columns 3..6
    outline = probability_outline(mask.astype(np.float32), mask, 0.5)
    assert isinstance(outline, Polygon)
    # The pixel edges, each corner cut by 1/8 pixel (the iso-line between pixel centres).
    assert outline.bounds == (3.0, 2.0, 7.0, 6.0) and outline.area == 16 - 4 / 8
    assert np.array_equal(_rasterise(outline, mask.shape), mask)


def test_object_cut_by_the_patch_border_is_outlined_along_the_border() -> None:
    prob = _soft_disk(2.0, 40.0, 8.0)
    mask = prob > 0.5
    outline = probability_outline(prob, mask, 0.5)
    x0, _, _, y1 = outline.bounds
    assert x0 == pytest.approx(0.0) and y1 == pytest.approx(48.0, abs=0.1)
    flat = [(x, y) for x, y in outline.exterior.coords if x == pytest.approx(0.0)]
    assert max(y for _, y in flat) - min(y for _, y in flat) > 10  # a straight run on x = 0
    assert np.array_equal(_rasterise(outline, mask.shape), mask)


def test_only_the_chosen_object_is_traced_with_its_holes_filled() -> None:
    prob = _soft_disk(24.0, 24.0, 10.0)
    prob[22:26, 22:26] = 0.1  # a hole in the middle
    prob = np.maximum(prob, _soft_disk(40.0, 40.0, 6.0))  # a neighbour, touching diagonally
    prob[5, 5] = prob[5, 6] = prob[6, 5] = 0.9  # a speck
    click = np.zeros(prob.shape, dtype=bool)
    click[20, 20] = True
    mask = select_object(prob, click, 0.5, min_area=10, single=True)
    assert mask is not None and mask[23, 23] and not mask[40, 40] and not mask[5, 5]
    outline = probability_outline(prob, mask, 0.5)
    assert isinstance(outline, Polygon) and not outline.interiors and outline.is_valid
    assert np.array_equal(_rasterise(outline, mask.shape), mask)


def test_a_click_between_two_blobs_keeps_the_one_it_mostly_falls_on() -> None:
    prob = np.zeros((32, 32), dtype=np.float32)
    prob[4:12, 4:12] = 0.9
    prob[4:12, 13:20] = 0.8  # one column of background between them
    disk = np.zeros_like(prob, dtype=bool)
    disk[7:10, 10:14] = True  # 6 pixels on the left blob, 3 on the right one
    both = select_object(prob, disk, 0.5, 0)
    one = select_object(prob, disk, 0.5, 0, single=True)
    assert both is not None and both.sum() == 64 + 56
    assert one is not None and one.sum() == 64 and one[5, 5] and not one[5, 15]


def test_squiggle_over_two_parts_gives_two_smooth_parts() -> None:
    prob = np.maximum(_soft_disk(12.0, 12.0, 6.0), _soft_disk(40.0, 44.0, 7.0))
    squiggle = np.zeros(prob.shape, dtype=bool)
    squiggle[12, 12] = squiggle[44, 40] = True
    mask = select_object(prob, squiggle, 0.5, 0)
    assert mask is not None
    outline = probability_outline(prob, mask, 0.5, tolerance=0.2)
    assert isinstance(outline, MultiPolygon) and len(outline.geoms) == 2 and outline.is_valid
    assert abs(outline.area - np.pi * (36 + 49)) < 0.03 * np.pi * (36 + 49)


def test_empty_mask_gives_an_empty_outline() -> None:
    prob = np.zeros((8, 8), dtype=np.float32)
    assert probability_outline(prob, prob > 0.5, 0.5).is_empty


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    sigma=st.floats(1.0, 4.0),
    threshold=st.floats(0.3, 0.7),
    tolerance=st.sampled_from([0.0, 0.2, 0.5]),
)
def test_outline_of_any_smooth_field_is_valid_and_keeps_the_mask(
    seed: int, sigma: float, threshold: float, tolerance: float
) -> None:
    """Random blobs, touching the border or each other: one valid part per part of the mask,
    no holes, and (unsimplified) exactly the mask's pixels inside."""
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.normal(size=(40, 48)), sigma)
    prob = 1.0 / (1.0 + np.exp(-field / field.std() * 3.0))
    signal = np.zeros(prob.shape, dtype=bool)
    signal[rng.integers(0, 40, 4), rng.integers(0, 48, 4)] = True  # a squiggle's pixels
    mask = select_object(prob, signal, threshold, min_area=0)
    if mask is None:
        return
    outline = probability_outline(prob, mask, threshold, tolerance)
    assert outline.is_valid and not outline.is_empty
    parts = list(getattr(outline, "geoms", [outline]))
    assert all(not p.interiors for p in parts)
    assert len(parts) == ndi.label(mask)[1]
    if tolerance == 0:
        assert np.array_equal(_rasterise(outline, mask.shape), mask)


def test_glass_is_told_from_nuclei_on_real_pixels() -> None:
    """Every labelled nucleus of a held-out H&E tile is tissue; the demo slide's glass is not."""
    from PIL import Image

    from tests.conftest import shared_file
    from tilescope.engine.slide import RegionRequest, open_slide
    from tilescope.plugins.nuclick.postprocess import on_glass
    from tilescope.resources import demo_slide_path

    stem = "TCGA-AY-A8YK-01A-01-TS1"  # MoNuSeg colon, 362 nuclei
    folder = ("nuclei", "monuseg_train")
    rgb = np.asarray(Image.open(shared_file(*folder, f"{stem}.png")).convert("RGB"))
    labels = np.asarray(Image.open(shared_file(*folder, f"{stem}_label.png")))
    assert not any(on_glass(rgb, labels == k) for k in np.unique(labels)[1:])
    with open_slide(demo_slide_path()) as slide:
        corner = np.asarray(slide.read_region(RegionRequest(2080, 24, 80, 80, 1.0)))[..., :3]
    assert corner.min() > 200  # blank glass at the slide's top edge
    disk = np.hypot(*np.mgrid[-40:40, -40:40]) < 8
    assert on_glass(corner, disk)
