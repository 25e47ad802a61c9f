"""`tilescope screenshot` renders the viewer off screen; pixels match the engine's own reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.gui.conftest import rgb_pyramid
from tilescope.cli.main import main
from tilescope.engine.slide import RegionRequest, open_slide


def _engine_region(path: Path, cx: float, cy: float, w: int, h: int, ds: float) -> np.ndarray:
    with open_slide(path) as slide:
        request = RegionRequest(cx - w * ds / 2, cy - h * ds / 2, w * ds, h * ds, ds)
        return slide.read_region(request).astype(int)


def _shot(tmp_path: Path, path: Path, *args: str) -> np.ndarray:
    out = tmp_path / "shot.png"
    assert main(["screenshot", str(path), "-o", str(out), "--plain", *args]) == 0
    return np.asarray(Image.open(out).convert("RGB")).astype(int)


@pytest.fixture
def pyramid_tiff(tmp_path: Path) -> Path:
    """A tiled 4-level pyramidal TIFF (one page per level), as many scanners write."""
    import tifffile

    path = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(path) as tif:
        for level in rgb_pyramid(2048, 1536, 4):
            tif.write(level, tile=(256, 256), photometric="rgb", compression="zlib")
    return path


def test_screenshot_at_one_to_one_equals_the_engine_region(tmp_path, demo_path):
    shot = _shot(
        tmp_path, demo_path, "--center", "1000,1500", "--downsample", "1", "--size", "400x300"
    )
    expected = _engine_region(demo_path, 1000, 1500, 400, 300, 1.0)
    assert shot.shape == expected.shape == (300, 400, 3)
    assert np.abs(shot - expected).max() == 0


def test_screenshot_between_levels_matches_within_resampling(tmp_path, pyramid_tiff):
    shot = _shot(
        tmp_path, pyramid_tiff, "--center", "1000,700", "--downsample", "3", "--size", "320x240"
    )
    expected = _engine_region(pyramid_tiff, 1000, 700, 320, 240, 3.0)
    difference = np.abs(shot - expected)
    assert difference.mean() < 4  # bilinear (screen) vs area (engine) filtering
    # Red/green ramps agree closely everywhere; the fine blue checkerboard aliases differently.
    assert np.percentile(difference[:, :, :2], 99) <= 6


def test_screenshot_at_a_pyramid_level_is_exact(tmp_path, pyramid_tiff):
    shot = _shot(
        tmp_path, pyramid_tiff, "--center", "1024,768", "--downsample", "4", "--size", "256x192"
    )
    expected = _engine_region(pyramid_tiff, 1024, 768, 256, 192, 4.0)
    assert np.abs(shot - expected).max() == 0


def test_screenshot_with_minimap_and_scale_bar_and_hidpi(tmp_path, demo_path):
    out = tmp_path / "window.png"
    assert (
        main(["screenshot", str(demo_path), "-o", str(out), "--size", "300x200", "--dpr", "2"]) == 0
    )
    assert Image.open(out).size == (600, 400)


def test_screenshot_of_a_bad_file_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.svs"
    bad.write_bytes(b"\x00" * 64)
    assert main(["screenshot", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err


def test_hidpi_draws_slide_pixels_at_device_pixels(tmp_path, demo_path):
    """At DPR 2, 1:1 means one slide pixel per device pixel: the same pixels as DPR 1."""
    hidpi = _shot(
        tmp_path,
        demo_path,
        "--center",
        "1100,1500",
        "--downsample",
        "1",
        "--size",
        "150x100",
        "--dpr",
        "2",
    )
    plain = _shot(
        tmp_path, demo_path, "--center", "1100,1500", "--downsample", "1", "--size", "300x200"
    )
    assert hidpi.shape == plain.shape == (200, 300, 3)
    assert np.abs(hidpi - plain).max() == 0


@pytest.mark.parametrize(
    "bad",
    [
        ["--center", "nan,nan"],
        ["--center", "1e400,0"],
        ["--dpr", "nan"],
        ["--dpr", "inf"],
        ["--downsample", "nan"],
        ["--downsample", "1e-6"],
        ["--size", "200000x200000"],
        ["--timeout", "nan"],
        ["--mpp", "inf"],
        ["--mpp", "0"],
    ],
)
def test_screenshot_refuses_nonsense_numbers_in_one_line(tmp_path, demo_path, capsys, bad):
    out = tmp_path / "x.png"
    with pytest.raises(SystemExit) as exit_:
        main(["screenshot", str(demo_path), "-o", str(out), *bad])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and bad[0] in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(("name", "expected"), [("dir", "is a folder"), ("x.gif2", "extension")])
def test_screenshot_output_problems_before_rendering(tmp_path, demo_path, capsys, name, expected):
    (tmp_path / "dir").mkdir()
    assert main(["screenshot", str(demo_path), "-o", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and expected in err


def test_screenshot_mpp_sets_the_scale_bar(tmp_path, demo_path):
    from tests.gui.helpers import image_to_array
    from tilescope.gui.viewer.scale_bar import scale_bar_for
    from tilescope.gui.viewer.screenshot import render_screenshot

    # The same view with the file's 0.499 um/px and with --mpp 0.25: only the bar differs.
    own = image_to_array(render_screenshot(demo_path, size=(400, 300), downsample=4.0))
    given = image_to_array(render_screenshot(demo_path, size=(400, 300), downsample=4.0, mpp=0.25))
    assert scale_bar_for(0.25, 4.0)[1] == "100 µm" and scale_bar_for(0.499, 4.0)[1] == "200 µm"
    rows, cols = np.nonzero(np.any(own != given, axis=2))
    assert rows.size > 0
    assert rows.min() > 300 - 60 and cols.max() < 170  # the bottom-left corner: the scale bar
    out = tmp_path / "mpp.png"
    assert main(["screenshot", str(demo_path), "-o", str(out), "--mpp", "0.25"]) == 0
    assert Image.open(out).size == (1280, 800)


def test_screenshot_of_a_corrupt_tile_fails_at_once_in_one_line(tmp_path, capsys):
    """A tile that cannot be decoded is an error now, not a wait for the whole timeout."""
    from tests.engine.slide import synthetic

    path = synthetic.write_tiff_with_corrupt_tile(tmp_path / "corrupt.tif")
    out = tmp_path / "shot.png"
    # a timeout of a day: the test would hang if the failure were not noticed
    assert main(["screenshot", str(path), "-o", str(out), "--timeout", "86400"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err and "corrupt" in err
    assert not out.exists()
