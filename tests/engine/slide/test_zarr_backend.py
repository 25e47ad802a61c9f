"""OME-Zarr specifics: axis orders, units, channel names, RGB detection, series as scenes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.engine.slide import synthetic
from tilescope.engine.slide import RegionRequest, SlideError, open_slide


def _whole(path: Path, scene: int = 0) -> np.ndarray:
    with open_slide(path, scene=scene) as slide:
        meta = slide.metadata
        return slide.read_region(RegionRequest(0, 0, meta.width, meta.height))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("axes", ["tczyx", "czyx", "cyx", "yxc", "zcyx", "yx", "zyx", "tyx"])
def test_any_axis_order_reads_as_height_width_channels(
    tmp_path: Path, axes: str, version: str
) -> None:
    channels = 2 if "c" in axes else 1
    base = synthetic.pattern(70, 90, channels, "uint16")
    path = synthetic.write_ome_zarr(tmp_path / "a.zarr", [base], version=version, axes=axes)
    with open_slide(path) as slide:
        assert slide.backend_name == "zarr"
        meta = slide.metadata
        assert (meta.width, meta.height, meta.channels) == (90, 70, channels)
        assert meta.properties["ome-zarr.axes"] == axes
        assert meta.properties["ome-zarr.zarr_format"] == (2 if version == "0.4" else 3)
        window = slide.read_region(RegionRequest(13, 7, 50, 40))
    np.testing.assert_array_equal(window, base[7:47, 13:63])


@pytest.mark.parametrize(
    ("unit", "size", "mpp"),
    [
        ("micrometer", 0.5, 0.5),
        ("nanometer", 250.0, 0.25),
        ("millimeter", 0.0005, 0.5),
        ("meter", 5e-7, None),  # not a unit scanners use; rather unknown than wrong
        ("pixel", 1.0, None),
    ],
)
def test_mpp_from_the_scale_of_level_zero(
    tmp_path: Path, unit: str, size: float, mpp: float | None
) -> None:
    base = synthetic.pattern(64, 64, 3)
    path = synthetic.write_ome_zarr(
        tmp_path / "s.zarr", synthetic.pyramid(base, 2), pixel_size_um=size, unit=unit
    )
    with open_slide(path) as slide:
        got = slide.metadata.mpp
    if mpp is None:
        assert got is None
    else:
        assert got == pytest.approx((mpp, mpp))


def test_no_units_means_no_mpp(tmp_path: Path) -> None:
    path = synthetic.write_ome_zarr(
        tmp_path / "n.zarr", [synthetic.pattern(32, 32, 3)], pixel_size_um=None
    )
    with open_slide(path) as slide:
        assert slide.metadata.mpp is None


def test_downsample_follows_the_scale_for_odd_sizes(tmp_path: Path) -> None:
    base = synthetic.pattern(333, 1001, 3)
    path = synthetic.write_ome_zarr(tmp_path / "odd.zarr", synthetic.pyramid(base, 3))
    with open_slide(path) as slide:
        levels = slide.metadata.levels
    assert [(lv.width, lv.height) for lv in levels] == [(1001, 333), (501, 167), (251, 84)]
    assert [lv.downsample for lv in levels] == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    ("channels", "dtype", "is_rgb", "background"),
    [
        (3, "uint8", True, 255),
        (3, "uint16", False, 0),
        (4, "uint8", False, 0),
        (1, "uint8", False, 0),
    ],
)
def test_rgb_only_for_three_uint8_channels(
    tmp_path: Path, channels: int, dtype: str, is_rgb: bool, background: int
) -> None:
    path = synthetic.write_ome_zarr(
        tmp_path / "c.zarr", [synthetic.pattern(40, 40, channels, dtype)], version="0.5"
    )
    with open_slide(path) as slide:
        assert slide.metadata.is_rgb is is_rgb
        assert slide.background == background
        outside = slide.read_region(RegionRequest(-10, -10, 5, 5))
    assert outside.shape == (5, 5, channels) and (outside == background).all()


def test_channel_names_and_display_hints_from_omero(tmp_path: Path) -> None:
    labels = ["DAPI", "CD3", "CD8", "PanCK"]
    path = synthetic.write_ome_zarr(
        tmp_path / "f.zarr",
        [synthetic.pattern(32, 32, 4, "uint16")],
        version="0.5",
        channel_labels=labels,
    )
    with open_slide(path) as slide:
        meta = slide.metadata
    assert meta.channel_names == tuple(labels)
    assert meta.properties["omero.channel_colors"] == ["FFFFFF"] * 4
    assert meta.properties["omero.channel_windows"] == [[0.0, 255.0]] * 4


def test_default_channel_names_without_omero(tmp_path: Path) -> None:
    rgb = synthetic.write_ome_zarr(tmp_path / "rgb.zarr", [synthetic.pattern(16, 16, 3)])
    fluo = synthetic.write_ome_zarr(
        tmp_path / "fluo.zarr", [synthetic.pattern(16, 16, 2, "uint16")]
    )
    for path in (rgb, fluo):
        attrs = json.loads((path / ".zattrs").read_text())
        del attrs["omero"]
        (path / ".zattrs").write_text(json.dumps(attrs))
    with open_slide(rgb) as slide:
        assert slide.metadata.channel_names == ("R", "G", "B")
    with open_slide(fluo) as slide:
        assert slide.metadata.channel_names == ("Channel 0", "Channel 1")


def test_sharded_zarr_v3(tmp_path: Path) -> None:
    base = synthetic.pattern(700, 650, 3)
    path = synthetic.write_ome_zarr(
        tmp_path / "sharded.zarr",
        synthetic.pyramid(base, 2),
        version="0.5",
        chunks=64,
        chunks_per_shard=4,
    )
    np.testing.assert_array_equal(_whole(path), base)


def test_tile_size_is_a_multiple_of_the_chunks(tmp_path: Path) -> None:
    path = synthetic.write_ome_zarr(
        tmp_path / "t.zarr", [synthetic.pattern(400, 300, 3)], chunks=96
    )
    with open_slide(path) as slide:
        assert slide.tile_size(0) == (480, 480)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_bioformats2raw_series_are_scenes(tmp_path: Path, version: str) -> None:
    first = synthetic.pattern(50, 60, 3, seed=1)
    second = synthetic.pattern(30, 20, 3, seed=2)
    path = synthetic.write_bioformats2raw(
        tmp_path / "multi.zarr", [[first], [second]], version=version
    )
    with open_slide(path) as slide:
        assert slide.metadata.scene_count == 2
    np.testing.assert_array_equal(_whole(path), first)
    np.testing.assert_array_equal(_whole(path, scene=1), second)
    with pytest.raises(SlideError, match="scene 2 does not exist"):
        open_slide(path, scene=2)


def test_single_image_has_one_scene(tmp_path: Path) -> None:
    path = synthetic.write_ome_zarr(tmp_path / "one.zarr", [synthetic.pattern(8, 8, 3)])
    with pytest.raises(SlideError, match="scene 1 does not exist"):
        open_slide(path, scene=1)


def test_folder_without_zarr_suffix_is_recognised(tmp_path: Path) -> None:
    path = synthetic.write_ome_zarr(tmp_path / "image_folder", [synthetic.pattern(8, 8, 3)])
    with open_slide(path) as slide:
        assert slide.backend_name == "zarr"


def test_plate_gets_a_clear_message(tmp_path: Path) -> None:
    folder = tmp_path / "plate.zarr"
    folder.mkdir()
    (folder / ".zgroup").write_text('{"zarr_format": 2}')
    (folder / ".zattrs").write_text(json.dumps({"plate": {"wells": []}}))
    with pytest.raises(SlideError, match="plate"):
        open_slide(folder)


def test_mismatched_levels_are_refused(tmp_path: Path) -> None:
    base = synthetic.pattern(64, 64, 3)
    path = synthetic.write_ome_zarr(tmp_path / "m.zarr", synthetic.pyramid(base, 2))
    synthetic.write_ome_zarr(tmp_path / "other.zarr", [synthetic.pattern(32, 32, 2)])
    import shutil

    shutil.rmtree(path / "1")
    shutil.copytree(tmp_path / "other.zarr" / "0", path / "1")
    with pytest.raises(SlideError, match="level 1"):
        open_slide(path)


def test_missing_chunks_read_as_the_fill_value(tmp_path: Path) -> None:
    base = synthetic.pattern(128, 128, 3)
    path = synthetic.write_ome_zarr(tmp_path / "sparse.zarr", [base], chunks=64)
    (path / "0" / "0.1.1").unlink()  # chunk key of c=0, y=1, x=1 in zarr v2
    pixels = _whole(path)
    np.testing.assert_array_equal(pixels[:64], base[:64])
    assert (pixels[64:, 64:] == 0).all()
