"""`tilescope info` and `tilescope region` run as a user runs them: in a separate process,
through `python -m tilescope` and through the installed `tilescope` console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import openslide
import pytest
from PIL import Image

import tilescope
from tests.conftest import SHARED_DATA
from tests.engine.slide import synthetic
from tilescope.engine.slide.backends.openslide_backend import composite_on_white

INFO_KEYS = {
    "path",
    "format",
    "width",
    "height",
    "levels",
    "mpp",
    "objective_power",
    "channels",
    "dtype",
    "associated_images",
    "scenes",
}


def _console_script() -> str:
    script = shutil.which("tilescope", path=str(Path(sys.executable).parent))
    assert script, "the tilescope console script is not installed next to this Python"
    return script


LAUNCHERS = {
    "python -m tilescope": lambda: [sys.executable, "-m", "tilescope"],
    "tilescope script": lambda: [_console_script()],
}


def run_cli(
    *args: str | Path, launcher: str = "python -m tilescope"
) -> subprocess.CompletedProcess:
    command = [*LAUNCHERS[launcher](), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def _shared_slides() -> list[Path]:
    folder = SHARED_DATA / "slides"
    return sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []


SLIDES = _shared_slides()
SLIDE_IDS = [p.name for p in SLIDES]


def _assert_one_line_error(result: subprocess.CompletedProcess, path: Path | str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(path) in lines[0]
    assert result.stdout == ""
    return lines[0]


# -- launchers -----------------------------------------------------------------------------


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_version(launcher: str) -> None:
    result = run_cli("--version", launcher=launcher)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tilescope {tilescope.__version__}"


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_help_lists_the_commands(launcher: str) -> None:
    result = run_cli("--help", launcher=launcher)
    assert result.returncode == 0, result.stderr
    assert "info" in result.stdout and "region" in result.stdout
    for command in ("info", "region"):
        sub = run_cli(command, "--help", launcher=launcher)
        assert sub.returncode == 0 and "usage: tilescope " + command in sub.stdout


# -- info ----------------------------------------------------------------------------------


def _refuse_non_json(name: str) -> None:
    raise AssertionError(f"info --json printed {name}, which is not JSON")


def _info(path: Path, *extra: str, launcher: str = "python -m tilescope") -> dict:
    result = run_cli("info", path, "--json", *extra, launcher=launcher)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout, parse_constant=_refuse_non_json)  # NaN/Infinity refused


def _assert_info_shape(info: dict, path: Path) -> None:
    assert set(info) >= INFO_KEYS, INFO_KEYS - set(info)
    assert info["path"] == str(path)
    assert isinstance(info["format"], str) and info["format"]
    assert isinstance(info["width"], int) and isinstance(info["height"], int)
    assert info["levels"] and all(
        set(lv) == {"width", "height", "downsample"} for lv in info["levels"]
    )
    assert (info["levels"][0]["width"], info["levels"][0]["height"]) == (
        info["width"],
        info["height"],
    )
    assert info["mpp"] is None or (len(info["mpp"]) == 2 and min(info["mpp"]) > 0)
    assert info["objective_power"] is None or info["objective_power"] > 0
    assert isinstance(info["channels"], int) and info["channels"] >= 1
    assert isinstance(info["dtype"], str)
    assert isinstance(info["associated_images"], list)
    assert isinstance(info["scenes"], int) and info["scenes"] >= 1


@pytest.mark.parametrize("path", SLIDES, ids=SLIDE_IDS)
def test_info_json_of_every_shared_slide_agrees_with_openslide(path: Path) -> None:
    info = _info(path)
    _assert_info_shape(info, path)
    with openslide.OpenSlide(str(path)) as slide:
        assert (info["width"], info["height"]) == slide.dimensions
        assert [(lv["width"], lv["height"]) for lv in info["levels"]] == list(
            slide.level_dimensions
        )
        assert [lv["downsample"] for lv in info["levels"]] == pytest.approx(
            slide.level_downsamples, rel=1e-6
        )
        assert sorted(info["associated_images"]) == sorted(slide.associated_images)
    assert info["channels"] == 3 and info["dtype"] == "uint8"


def test_info_json_through_the_console_script(cmu_small_svs: Path) -> None:
    info = _info(cmu_small_svs, launcher="tilescope script")
    _assert_info_shape(info, cmu_small_svs)
    assert info["mpp"] == pytest.approx([0.499, 0.499])
    assert info["objective_power"] == 20
    assert {"label", "macro", "thumbnail"} <= set(info["associated_images"])


def test_info_json_of_synthetic_zarr_and_png(tmp_path: Path) -> None:
    fluo = synthetic.pattern(300, 200, 4, "uint16")
    zarr = synthetic.write_ome_zarr(
        tmp_path / "fluo.zarr",
        synthetic.pyramid(fluo, 2),
        version="0.5",
        axes="czyx",
        pixel_size_um=0.25,
        channel_labels=["DAPI", "FITC", "Cy3", "Cy5"],
    )
    info = _info(zarr)
    _assert_info_shape(info, zarr)
    assert (info["width"], info["height"], info["channels"]) == (200, 300, 4)
    assert info["dtype"] == "uint16" and info["mpp"] == [0.25, 0.25]
    assert info["format"] == "ome-zarr"
    png = synthetic.write_pillow(tmp_path / "page.png", synthetic.pattern(1200, 900, 3))
    info = _info(png)
    _assert_info_shape(info, png)
    assert info["format"] == "png" and info["mpp"] is None
    assert [(lv["width"], lv["height"]) for lv in info["levels"]] == [
        (900, 1200),
        (450, 600),
        (225, 300),
    ]


def test_info_text_names_the_file(cmu_small_svs: Path) -> None:
    result = run_cli("info", cmu_small_svs)
    assert result.returncode == 0, result.stderr
    assert str(cmu_small_svs) in result.stdout and "2220 x 2967" in result.stdout


# -- region --------------------------------------------------------------------------------


def _region(path: Path, out: Path, x: float, y: float, w: float, h: float, *scale: str):
    result = run_cli(
        "region", path, "--x", x, "--y", y, "--width", w, "--height", h, *scale, "-o", out
    )
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize(
    ("width", "height", "downsample"),
    [(1000, 777, 3.0), (640, 480, 1.0), (999, 333, 2.5), (101, 99, 7.3), (2220, 2967, 16)],
)
def test_region_output_size(
    cmu_small_svs: Path, tmp_path: Path, width: int, height: int, downsample: float
) -> None:
    out = tmp_path / "region.png"
    pixels = _region(cmu_small_svs, out, 10, 20, width, height, "--downsample", str(downsample))
    assert pixels.shape[:2] == (round(height / downsample), round(width / downsample))


@pytest.mark.parametrize("path", SLIDES, ids=SLIDE_IDS)
def test_region_pixels_at_every_level_equal_openslide(path: Path, tmp_path: Path) -> None:
    with openslide.OpenSlide(str(path)) as slide:
        for level, ((lw, lh), ds) in enumerate(
            zip(slide.level_dimensions, slide.level_downsamples, strict=True)
        ):
            w, h = max(1, min(300, lw - 3)), max(1, min(200, lh - 2))
            # A window on the level's own pixel grid, and one at an odd level-0 position.
            for x, y in ((round(3 * ds), round(2 * ds)), (7, 5)):
                if x >= slide.dimensions[0] or y >= slide.dimensions[1]:
                    continue
                expected = composite_on_white(np.asarray(slide.read_region((x, y), level, (w, h))))
                out = tmp_path / f"level{level}_{x}_{y}.png"
                actual = _region(path, out, x, y, w * ds, h * ds, "--level", str(level))
                np.testing.assert_array_equal(actual, expected, err_msg=f"level {level} at {x},{y}")


def test_region_keeps_uint16_channels_in_tiff(tmp_path: Path) -> None:
    fluo = synthetic.pattern(256, 256, 4, "uint16")
    zarr = synthetic.write_ome_zarr(tmp_path / "fluo.zarr", [fluo], version="0.4", axes="cyx")
    out = tmp_path / "crop.tif"
    result = run_cli(
        "region", zarr, "--x", 10, "--y", 20, "--width", 100, "--height", 50, "-o", out
    )
    assert result.returncode == 0, result.stderr
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(out), fluo[20:70, 10:110])


# -- scenes --------------------------------------------------------------------------------


def test_scene_selects_a_series(tmp_path: Path) -> None:
    first = synthetic.pattern(120, 160, 3, seed=1)
    second = synthetic.pattern(90, 70, 3, seed=2)
    path = synthetic.write_bioformats2raw(tmp_path / "two.zarr", [[first], [second]])
    assert (_info(path)["width"], _info(path)["scenes"]) == (160, 2)
    info = _info(path, "--scene", "1")
    assert (info["width"], info["height"], info["scenes"]) == (70, 90, 2)
    out = tmp_path / "scene1.png"
    pixels = _region(path, out, 0, 0, 70, 90)
    assert pixels.shape == (90, 70, 3)  # without --scene: scene 0, cropped region
    np.testing.assert_array_equal(pixels, first[:90, :70])
    result = run_cli(
        "region", path, "--scene", "1", "--x", 0, "--y", 0, "--width", 70, "--height", 90, "-o", out
    )
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        np.testing.assert_array_equal(np.asarray(image), second)
    line = _assert_one_line_error(run_cli("info", path, "--scene", "2"), path)
    assert "scene 2" in line


def test_scene_beyond_a_single_scene_slide(cmu_small_svs: Path) -> None:
    line = _assert_one_line_error(run_cli("info", cmu_small_svs, "--scene", "3"), cmu_small_svs)
    assert "scene 3" in line


# -- errors --------------------------------------------------------------------------------


def test_errors_are_one_line_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.svs"
    assert "not found" in _assert_one_line_error(run_cli("info", missing), missing)
    noise = tmp_path / "noise.svs"
    noise.write_bytes(np.random.default_rng(0).bytes(30_000))
    _assert_one_line_error(run_cli("info", noise, "--json"), noise)
    fake_tiff = tmp_path / "fake.tif"
    fake_tiff.write_bytes(b"II*\x00" + np.random.default_rng(1).bytes(30_000))
    _assert_one_line_error(run_cli("info", fake_tiff), fake_tiff)
    other = tmp_path / "notes.xyz"
    other.write_text("hello")
    assert "unsupported" in _assert_one_line_error(run_cli("info", other), other)
    folder = tmp_path / "folder"
    folder.mkdir()
    _assert_one_line_error(run_cli("info", folder, launcher="tilescope script"), folder)
    broken = synthetic.write_ome_zarr(tmp_path / "broken.zarr", [synthetic.pattern(8, 8, 3)])
    (broken / ".zattrs").write_text("{ not json")
    assert ".zattrs" in _assert_one_line_error(run_cli("info", broken), broken)
    out = tmp_path / "out.png"
    _assert_one_line_error(
        run_cli("region", noise, "--x", 0, "--y", 0, "--width", 8, "--height", 8, "-o", out),
        noise,
    )
    assert not out.exists()


def test_region_errors_are_one_line(cmu_small_svs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    base = ["region", cmu_small_svs, "--x", 0, "--y", 0, "-o", out]
    line = _assert_one_line_error(
        run_cli(*base, "--width", 10, "--height", 10, "--level", 9), cmu_small_svs
    )
    assert "level 9" in line
    # Argument errors name the argument (argparse, before the slide is opened).
    _assert_one_line_error(run_cli(*base, "--width", 0, "--height", 10), "--width")
    _assert_one_line_error(
        run_cli(*base, "--width", 10, "--height", 10, "--downsample", -2), "--downsample"
    )
    for option, value in (
        ("--width", "nan"),
        ("--height", "inf"),
        ("--downsample", "nan"),
        ("--downsample", "1e-6"),
        ("--x", "1e400"),
        ("--scene", "-1"),
        ("--mpp", "nan"),
    ):
        args = {"--width": 10, "--height": 10, option: value}
        extra = [str(v) for kv in args.items() for v in kv]
        line = _assert_one_line_error(run_cli(*base, *extra), option)
        assert "usage" not in line
    assert not out.exists()


def test_region_larger_than_the_memory_budget_is_refused(
    cmu_small_svs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "huge.png"
    base = ["region", cmu_small_svs, "--x", 0, "--y", 0, "-o", out]
    line = _assert_one_line_error(run_cli(*base, "--width", 200000, "--height", 200000), "200000")
    assert "memory budget" in line
    # 10 x 10 pixels enlarged 64 times is small: allowed.
    pixels = _region(cmu_small_svs, out, 0, 0, 10, 10, "--downsample", "0.015625")
    assert pixels.shape == (640, 640, 3)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("folder", "is a folder"), ("out.xyz", "unknown output extension"), ("out", "unknown")],
)
def test_region_output_path_problems(
    cmu_small_svs: Path, tmp_path: Path, name: str, expected: str
) -> None:
    (tmp_path / "folder").mkdir()
    out = tmp_path / name
    result = run_cli(
        "region", cmu_small_svs, "--x", 0, "--y", 0, "--width", 9, "--height", 9, "-o", out
    )
    assert expected in _assert_one_line_error(result, out)


def _fluorescence_zarr(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Three 12-bit-range channels in uint16: DAPI in the left third, FITC in the middle..."""
    fluo = np.zeros((90, 120, 3), dtype=np.uint16)
    rng = np.random.default_rng(3)
    for channel, (x0, x1) in enumerate(((0, 40), (40, 80), (80, 120))):
        fluo[:, x0:x1, channel] = rng.integers(2000, 4000, size=(90, 40))
    zarr = synthetic.write_ome_zarr(
        tmp_path / "fluo.zarr",
        [fluo],
        version="0.4",
        axes="cyx",
        pixel_size_um=0.5,
        channel_labels=["DAPI", "FITC", "TRITC"],
    )
    return zarr, fluo


def test_region_of_fluorescence_to_png_is_rendered_not_black(tmp_path: Path) -> None:
    zarr, _fluo = _fluorescence_zarr(tmp_path)
    pixels = _region(zarr, tmp_path / "fluo.png", 0, 0, 120, 90)
    assert pixels.shape == (90, 120, 3)
    dapi, fitc, tritc = pixels[:, :40], pixels[:, 40:80], pixels[:, 80:]
    # Each third shows its stain's colour (DAPI blue, FITC green, TRITC red), stretched.
    assert dapi[..., 2].mean() > 100 and dapi[..., 1].mean() < dapi[..., 2].mean()
    assert fitc[..., 1].mean() > 100 and fitc[..., 0].max() == 0 and fitc[..., 2].max() == 0
    assert tritc[..., 0].mean() > 100 and tritc[..., 1].max() == 0 and tritc[..., 2].max() == 0


def test_region_of_fluorescence_to_ome_tiff_keeps_raw_channels(tmp_path: Path) -> None:
    import tifffile

    zarr, fluo = _fluorescence_zarr(tmp_path)
    out = tmp_path / "crop.ome.tif"
    result = run_cli(
        "region", zarr, "--x", 10, "--y", 20, "--width", 100, "--height", 50, "-o", out
    )
    assert result.returncode == 0, result.stderr
    with tifffile.TiffFile(out) as tif:
        assert tif.is_ome
        stored = tif.asarray()
        xml = tif.ome_metadata
    np.testing.assert_array_equal(np.moveaxis(stored, 0, 2), fluo[20:70, 10:110])
    assert 'Name="DAPI"' in xml and 'PhysicalSizeX="0.5"' in xml
    info = _info(out)  # our own reader agrees: three channels, the pixel size
    assert info["channels"] == 3 and info["mpp"] == pytest.approx([0.5, 0.5])


def test_region_mpp_is_recorded_in_the_output(cmu_small_svs: Path, tmp_path: Path) -> None:
    out = tmp_path / "crop.png"
    result = run_cli(
        "region", cmu_small_svs, "--x", 0, "--y", 0, "--width", 200, "--height", 100,
        "--downsample", 2, "--mpp", 0.25, "-o", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        dpi = image.info["dpi"]
    assert 25400 / dpi[0] == pytest.approx(0.5, rel=1e-3)  # 0.25 um x downsample 2
    tif = tmp_path / "crop.tif"
    result = run_cli(
        "region", cmu_small_svs, "--x", 0, "--y", 0, "--width", 200, "--height", 100, "-o", tif
    )
    assert result.returncode == 0, result.stderr
    assert _info(tif)["mpp"] == pytest.approx([0.499, 0.499], rel=1e-3)  # the slide's own


def test_corrupt_tile_is_a_one_line_error(tmp_path: Path) -> None:
    path = synthetic.write_tiff_with_corrupt_tile(tmp_path / "corrupt.tif")
    out = tmp_path / "out.png"
    result = run_cli("region", path, "--x", 0, "--y", 0, "--width", 64, "--height", 64, "-o", out)
    _assert_one_line_error(result, path)
    assert not out.exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "definitely-missing.svs"
    result = run_cli("--debug", "info", missing)
    assert result.returncode == 2
    assert "Traceback" in result.stderr and str(missing) in result.stderr


def test_library_logs_stay_off_stderr_without_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from tilescope.cli import main as cli_main

    missing = tmp_path / "missing.svs"
    root = logging.getLogger()
    try:
        assert cli_main.main(["info", str(missing)]) == 2
        logging.getLogger("imagecodecs").warning("library chatter")
        logging.getLogger("openslide.lowlevel").error("more chatter")
        logging.getLogger("tilescope.engine.test").warning("our own warning")
        assert cli_main.main(["info", str(missing)]) == 2  # main again: no doubled handler
        logging.getLogger("tilescope.engine.test").warning("once")
    finally:
        for handler in [h for h in root.handlers if isinstance(h, cli_main._StderrLog)]:
            root.removeHandler(handler)
    err = capsys.readouterr().err
    assert "chatter" not in err
    assert "our own warning" in err and err.count("once") == 1
    assert err.count(f"{missing}: file not found") == 2


def test_region_of_a_16_bit_gray_tiff_to_png_is_stretched(tmp_path: Path) -> None:
    """Used to be a traceback (PNG needs 8-bit); now the viewer's rendering, 0.5-99.5 %."""
    import tifffile

    ramp = np.tile(np.linspace(1000, 5000, 256).astype(np.uint16), (64, 1))
    path = tmp_path / "gray16.tif"
    tifffile.imwrite(path, ramp, photometric="minisblack")
    pixels = _region(path, tmp_path / "gray16.png", 0, 0, 256, 64)
    row = pixels[0, :, 0].astype(int)
    assert pixels.shape == (64, 256, 3) and (pixels[..., 0] == pixels[..., 2]).all()
    assert row[0] == 0 and row[-1] == 255 and (np.diff(row) >= 0).all()  # stretched, in order
