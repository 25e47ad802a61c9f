"""Guiding maps and patch placement, pixel for pixel, through a real ONNX Runtime session.

The models here are tiny ONNX graphs that return one of their guiding maps as logits, so the
outline that comes back must be exactly the disk / line / exclusion the encoder drew.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.plugins.nuclick.support import ArraySlide, model_folder, rasterise
from tilescope.engine.inference.types import Prompt
from tilescope.plugins.nuclick.api import clicks, load_nuclick, squiggle
from tilescope.plugins.nuclick.encoding import (
    PatchWindow,
    disk_map,
    exclusion_map,
    polyline_map,
)
from tilescope.plugins.nuclick.segment import NOTHING_FOUND, model_downsample


def test_disk_covers_the_pixel_centres_within_the_radius() -> None:
    disk = disk_map(np.array([[10.5, 20.5]]), 32, 32, 2.0)  # centre of pixel (10, 20)
    assert disk.sum() == 13  # 1 + 4 + 4 + 4 (distances 0, 1, sqrt 2, 2)
    assert disk[20, 10] and disk[20, 12] and disk[22, 10] and not disk[22, 12]
    assert np.array_equal(disk, disk[::-1, ::-1][::-1, ::-1])


def test_radius_zero_marks_the_single_pixel_under_the_point() -> None:
    one = disk_map(np.array([[3.9, 7.2], [-1.0, 4.0]]), 16, 16, 0.0)
    assert one.sum() == 1 and one[7, 3]


def test_points_outside_the_patch_mark_only_what_falls_inside() -> None:
    edge = disk_map(np.array([[-1.0, 8.5]]), 16, 16, 2.0)
    assert 0 < edge.sum() < 13 and edge[:, 0].any() and not edge[:, 2:].any()


def test_polyline_is_drawn_with_its_width() -> None:
    line = polyline_map(np.array([[4.5, 10.5], [20.5, 10.5]]), 32, 32, 3)
    assert line[9:12, 4:21].all() and line.sum() == 3 * 19  # 17 px long + 1 px each end
    single = polyline_map(np.array([[4.5, 4.5]]), 16, 16, 1)
    assert single.sum() == 1


def test_window_is_centred_on_the_click_on_the_model_pixel_grid() -> None:
    window = PatchWindow.centred(1001.3, 500.7, 128, 128, 2.0)
    assert window.x % 2 == 0 and window.y % 2 == 0
    cx, cy = window.to_patch(np.array([1001.3, 500.7]))[0]
    assert abs(cx - 64) <= 0.5 and abs(cy - 64) <= 0.5
    request = window.request()
    assert request.output_size == (128, 128)


def test_exclusion_map_marks_other_clicks_never_the_own_one_or_the_object() -> None:
    window = PatchWindow(0.0, 0.0, 32, 32, 1.0)
    own = (16.5, 16.5)
    inclusion = disk_map(window.to_patch(np.array(own)), 32, 32, 2.0)
    avoid = np.array([own, (24.5, 16.5), (18.5, 16.5), (100.0, 100.0)])
    excl = exclusion_map(window, avoid, own, 2.0, inclusion)
    assert excl[16, 24] and not excl[16, 16]
    assert not (excl & inclusion).any()
    assert excl[16, 19] or excl[16, 20]  # the near neighbour shows where it leaves the object


def test_downsample_follows_the_slide_resolution() -> None:
    pixels = np.zeros((64, 64, 3), np.uint8)
    assert model_downsample(ArraySlide(pixels, 0.499), 0.5) == 1.0  # snapped: no resampling
    assert model_downsample(ArraySlide(pixels, 0.25), 0.5) == 2.0
    assert model_downsample(ArraySlide(pixels, None), 0.5) == 1.0  # native pixels
    assert model_downsample(ArraySlide(pixels, 0.3), 0.5) == pytest.approx(0.5 / 0.3)
    assert model_downsample(ArraySlide(pixels, 0.25), None) == 1.0


@pytest.fixture
def inclusion_model(tmp_path: Path):
    return load_nuclick(str(model_folder(tmp_path / "incl", channel=3)), device="cpu")


def _slide(mpp: float | None) -> ArraySlide:
    rng = np.random.default_rng(0)
    return ArraySlide(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8), mpp)


# The 13-pixel disk, outlined along the 0.5 iso-line through pixel centres: its pixels exactly,
# each corner cut by 1/8 pixel (four more convex corners than concave ones).
DISK_AREA = pytest.approx(13 - 4 / 8, abs=1e-4)


def test_click_comes_back_as_its_disk_at_the_click(inclusion_model) -> None:
    outcome = inclusion_model.segment(_slide(0.5), clicks([(300.5, 200.5)]))[0]
    geometry = outcome.annotation.geometry
    assert geometry.area == DISK_AREA and rasterise(geometry, (600, 800)).sum() == 13
    assert geometry.centroid.x == pytest.approx(300.5)
    assert geometry.centroid.y == pytest.approx(200.5)
    assert outcome.annotation.properties["prompt"] == "point"


def test_on_a_40x_slide_the_disk_is_read_at_half_resolution(inclusion_model) -> None:
    outcome = inclusion_model.segment(_slide(0.25), clicks([(301.0, 201.0)]))[0]
    geometry = outcome.annotation.geometry
    assert geometry.area == pytest.approx(4 * DISK_AREA.expected, abs=1e-3)
    assert abs(geometry.centroid.x - 301.0) <= 1.0 and abs(geometry.centroid.y - 201.0) <= 1.0


def test_many_clicks_one_call_each_gets_its_own_outline(inclusion_model) -> None:
    points = [(100.5 + 37 * k, 150.5 + 11 * k) for k in range(10)]
    outcomes = inclusion_model.segment(_slide(0.5), clicks(points))
    assert len(outcomes) == 10
    for (x, y), outcome in zip(points, outcomes, strict=True):
        c = outcome.annotation.geometry.centroid
        assert (c.x, c.y) == pytest.approx((x, y))


def test_squiggle_comes_back_as_the_drawn_line(inclusion_model) -> None:
    line = [(200.5, 300.5), (260.5, 300.5), (260.5, 340.5)]
    outcome = inclusion_model.segment(_slide(0.5), [squiggle(line)])[0]
    drawn = rasterise(outcome.annotation.geometry, (600, 800))
    assert drawn[299:302, 200:261].all() and drawn[300:341, 259:262].all()
    # 3 px bands: 3 x 63 (row) + 3 x 43 (column) - the 3 x 3 corner they share.
    assert drawn.sum() == 3 * 63 + 3 * 43 - 9


def test_long_squiggle_is_read_coarser_to_fit_one_patch(inclusion_model) -> None:
    line = [(20.5, 300.5), (780.5, 300.5)]  # 760 px: longer than max_patch (512)
    outcome = inclusion_model.segment(_slide(0.5), [squiggle(line)])[0]
    x0, _, x1, _ = outcome.annotation.geometry.bounds
    assert x0 <= 30 and x1 >= 770


def test_outside_and_background_prompts_say_why(inclusion_model) -> None:
    prompts = [
        Prompt("point", ((-50.0, 10.0),)),
        Prompt("point", ((100.0, 100.0),), positive=False),
    ]
    outcomes = inclusion_model.segment(_slide(0.5), prompts)
    assert [o.annotation for o in outcomes] == [None, None]
    assert outcomes[0].message == "outside the slide"
    assert outcomes[1].message == "background click"


def test_exclusion_channel_holds_the_other_clicks(tmp_path: Path) -> None:
    """A model that returns its exclusion map plus its inclusion disk: the neighbour's disk
    joins the object only where the two disks touch, never on its own."""
    model = load_nuclick(str(model_folder(tmp_path / "excl", channel=4)), device="cpu")
    slide = _slide(0.5)
    # Exclusion alone never touches the inclusion disk: nothing under the click.
    alone = model.segment(slide, clicks([(300.5, 200.5), (310.5, 200.5)]))
    assert [o.message for o in alone] == [NOTHING_FOUND, NOTHING_FOUND]
    # `exclude` points go into the exclusion map too (checked through the pure function).
    window = PatchWindow.centred(300.5, 200.5, 64, 64, 1.0)
    incl = disk_map(window.to_patch(np.array([300.5, 200.5])), 64, 64, 2.0)
    excl = exclusion_map(
        window, np.array([[300.5, 200.5], [310.5, 200.5]]), (300.5, 200.5), 2, incl
    )
    assert excl.sum() == 13


def test_segment_prompts_returns_only_annotations(inclusion_model) -> None:
    prompts = [*clicks([(300.5, 200.5)]), Prompt("point", ((-5.0, -5.0),))]
    annotations = inclusion_model.segment_prompts(_slide(0.5), prompts)
    assert len(annotations) == 1 and annotations[0].geometry.area == DISK_AREA


def test_outline_objects_takes_a_loaded_model_and_exclude_points(inclusion_model) -> None:
    from tilescope.plugins.nuclick.api import outline_objects

    outcomes = outline_objects(
        _slide(0.5), clicks([(300.5, 200.5)]), model=inclusion_model, exclude=[(305.5, 200.5)]
    )
    assert outcomes[0].annotation is not None and outcomes[0].annotation.geometry.area == DISK_AREA


def test_load_nuclick_refuses_a_model_of_another_type() -> None:
    from tilescope.plugins.manifest import ManifestError

    with pytest.raises(ManifestError, match="not a NuClick model"):
        load_nuclick("nuclei-unet-fluo", device="cpu")
