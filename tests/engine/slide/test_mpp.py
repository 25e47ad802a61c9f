"""Pixel size from TIFF resolution tags: believed only for metric units and microscope sizes."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from tilescope.engine.slide import open_slide
from tilescope.engine.slide.mpp import microns, mpp_from_resolution, plausible_mpp

CENTIMETER, INCH, NONE, MILLIMETER, MICROMETER = 3, 2, 1, 4, 5


@pytest.mark.parametrize(
    ("x", "y", "unit", "expected"),
    [
        ((20000, 1), (40000, 1), CENTIMETER, (0.5, 0.25)),  # 20000 px/cm = 0.5 um/px
        (40000.0, 40000.0, CENTIMETER, (0.25, 0.25)),
        ((4000, 1), (4000, 1), MILLIMETER, (0.25, 0.25)),
        ((2, 1), (4, 1), MICROMETER, (0.5, 0.25)),
        ((72, 1), (72, 1), INCH, None),  # screen default
        ((300, 1), (300, 1), INCH, None),  # print default
        ((100000, 1), (100000, 1), INCH, None),  # even a plausible value: inch is not trusted
        ((20000, 1), (20000, 1), NONE, None),
        ((20000, 1), (20000, 1), None, None),
        ((28, 1), (28, 1), CENTIMETER, None),  # 357 um/px: not a microscope
        ((1, 1), (1, 1), MICROMETER, (1.0, 1.0)),
        ((100, 1), (100, 1), MICROMETER, None),  # 0.01 um/px: below optical resolution
        ((0, 1), (20000, 1), CENTIMETER, None),
        ((20000, 0), (20000, 1), CENTIMETER, None),
        ("garbage", (20000, 1), CENTIMETER, None),
    ],
)
def test_mpp_from_resolution(x, y, unit, expected):
    result = mpp_from_resolution(x, y, unit)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_plausible_range_edges():
    assert plausible_mpp(0.05) and plausible_mpp(50.0)
    assert not plausible_mpp(0.049) and not plausible_mpp(50.1)
    assert not plausible_mpp(float("nan")) and not plausible_mpp(None)


def test_ome_units_convert_to_micrometres():
    assert microns(325.0, "nm") == pytest.approx(0.325)
    assert microns(0.325, "µm") == pytest.approx(0.325)
    assert microns(0.325, None) == pytest.approx(0.325)  # OME's default unit
    assert microns(0.001, "mm") == pytest.approx(1.0)
    assert microns(5000.0, "Å") == pytest.approx(0.5)
    assert microns(1.0, "furlong") is None
    assert microns(0.0, "µm") == 0.0  # kept, for vendor_mpp to judge and explain


@pytest.mark.parametrize(
    ("resolution", "unit", "expected"),
    [((40000, 40000), "CENTIMETER", (0.25, 0.25)), ((300, 300), "INCH", None)],
)
def test_tiff_files_report_mpp_only_from_metric_tags(tmp_path, resolution, unit, expected):
    path = tmp_path / "image.tif"
    pixels = np.zeros((64, 64, 3), np.uint8)
    tifffile.imwrite(path, pixels, tile=(64, 64), resolution=resolution, resolutionunit=unit)
    with open_slide(path) as slide:
        assert slide.backend_name == "tifffile"
        if expected is None:
            assert slide.metadata.mpp is None
        else:
            assert slide.metadata.mpp == pytest.approx(expected)
