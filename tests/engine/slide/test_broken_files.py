"""Bad input gives a `SlideError` that names the file and says what is wrong; never garbage."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.conftest import shared_file
from tests.engine.slide import synthetic
from tilescope.engine.slide import RegionRequest, SlideError, TileCache, open_slide
from tilescope.engine.slide.opener import registered_backends


def _open_error(path: Path, **kwargs: object) -> SlideError:
    with pytest.raises(SlideError) as raised:
        open_slide(path, **kwargs)  # type: ignore[arg-type]
    error = raised.value
    assert str(path) in str(error), "the message must name the file"
    assert "\n" not in str(error), "one line, for a dialog or a CLI error"
    return error


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.svs"
    path.touch()
    assert "empty" in _open_error(path).problem


def test_truncated_svs(tmp_path: Path) -> None:
    source = shared_file("slides", "CMU-1-Small-Region.svs")
    data = source.read_bytes()
    path = tmp_path / "truncated.svs"
    for fraction in (0.001, 0.5, 0.9, 0.9999):
        path.write_bytes(data[: int(len(data) * fraction)])
        error = _open_error(path)
        assert error.problem.startswith("file is truncated"), error.problem
        assert f"it has {path.stat().st_size} bytes" in error.problem


@pytest.mark.parametrize("backend", ["openslide", "tifffile"])
def test_svs_cut_short_in_its_associated_images(tmp_path: Path, backend: str) -> None:
    """The main image is whole, the macro image's data is cut off: its read is the error."""
    if backend not in {b.name for b in registered_backends()}:
        pytest.skip(f"backend {backend!r} is not registered yet")
    data = shared_file("slides", "CMU-1-Small-Region.svs").read_bytes()
    path = tmp_path / "cut.svs"
    path.write_bytes(data[:-100])
    try:
        slide = open_slide(path, backend=backend)
    except SlideError as error:
        assert str(path) in str(error)
        return
    with slide:
        whole = slide.read_region(RegionRequest(0, 0, 2220, 2967))
        assert whole.shape == (2967, 2220, 3)
        failures = []
        for name in slide.metadata.associated_images:
            try:
                image = slide.associated_image(name)
            except SlideError as error:
                assert str(path) in str(error) and name in str(error)
                failures.append(name)
            else:
                assert image.ndim == 3 and image.dtype == np.uint8
        assert "macro" in failures, "the cut-off macro image must not come back as pixels"


@pytest.mark.parametrize("extension", [".svs", ".tif", ".png", ".ndpi", ".jpg", ".zarr"])
def test_random_bytes(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"noise{extension}"
    path.write_bytes(np.random.default_rng(1).bytes(20_000))
    error = _open_error(path)
    assert error.problem  # e.g. "not a readable slide or image (openslide: ...)"
    assert "Traceback" not in error.problem


def test_random_bytes_after_a_tiff_header(tmp_path: Path) -> None:
    # Looks like a TIFF to every probe, so each reader has to refuse it properly.
    path = tmp_path / "fake.tif"
    path.write_bytes(b"II*\x00" + np.random.default_rng(2).bytes(20_000))
    problem = _open_error(path).problem
    assert "not a readable slide" in problem or "truncated or not a TIFF" in problem


def test_directory_that_is_not_zarr(tmp_path: Path) -> None:
    folder = tmp_path / "slides"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    assert "directory" in _open_error(folder).problem


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in _open_error(tmp_path / "nowhere.svs").problem


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    path.write_bytes(b"PK\x03\x04 not a slide")
    error = _open_error(path)
    assert "unsupported" in error.problem and ".docx" in error.problem


def test_unknown_backend_name(tmp_path: Path) -> None:
    path = synthetic.write_pillow(tmp_path / "a.png", synthetic.pattern(8, 8, 3))
    assert "unknown backend" in _open_error(path, backend="nope").problem


def test_ome_zarr_with_broken_json(tmp_path: Path) -> None:
    path = synthetic.write_ome_zarr(
        tmp_path / "broken.zarr", [synthetic.pattern(64, 64, 3)], version="0.4"
    )
    attrs = path / ".zattrs"
    attrs.write_text(attrs.read_text()[:-20])  # cut off mid-document
    error = _open_error(path)
    assert ".zattrs" in error.problem and "JSON" in error.problem.upper()


def test_ome_zarr_v3_with_broken_json(tmp_path: Path) -> None:
    path = synthetic.write_ome_zarr(
        tmp_path / "broken3.zarr", [synthetic.pattern(64, 64, 3)], version="0.5"
    )
    (path / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {')
    assert "zarr.json" in _open_error(path).problem


def test_ome_zarr_with_missing_level(tmp_path: Path) -> None:
    base = synthetic.pattern(64, 64, 3)
    path = synthetic.write_ome_zarr(tmp_path / "gap.zarr", synthetic.pyramid(base, 2))
    shutil.rmtree(path / "1")
    assert "'1' is missing" in _open_error(path).problem


def test_empty_zarr_folder(tmp_path: Path) -> None:
    folder = tmp_path / "nothing.zarr"
    folder.mkdir()
    assert "zarr metadata" in _open_error(folder).problem


def test_non_ascii_file_names_work(tmp_path: Path) -> None:
    folder = tmp_path / "Präparate 切片"
    folder.mkdir()
    svs = folder / "Schnitt_äöü_ß_切片.svs"
    shutil.copyfile(shared_file("slides", "CMU-1-Small-Region.svs"), svs)
    pixels = synthetic.pattern(40, 50, 3)
    png = synthetic.write_pillow(folder / "Bild_é.png", pixels)
    zarr = synthetic.write_ome_zarr(folder / "Probe_ñ.zarr", [pixels])
    for path in (svs, png, zarr):
        with open_slide(path) as slide:
            region = slide.read_region(RegionRequest(0, 0, 40, 30))
            assert region.shape == (30, 40, 3)
    for backend in ("openslide", "tifffile"):
        if backend in {b.name for b in registered_backends()}:
            with open_slide(svs, backend=backend) as slide:
                assert slide.metadata.width == 2220
    with open_slide(png) as slide:
        np.testing.assert_array_equal(slide.read_region(RegionRequest(0, 0, 50, 40)), pixels)
    # The error message keeps the name readable, too.
    assert "Kein_Bild_ü.svs" in str(_open_error(folder / "Kein_Bild_ü.svs"))


def _tiff_with_corrupt_tile(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """A deflate-tiled TIFF whose tile at column 3, row 3 holds random bytes.

    Readers may group native tiles into bigger reads; the bad tile is far from the top-left
    corner, so that a read there never touches it.
    """
    pixels = synthetic.pattern(1024, 1024, 3)
    tifffile.imwrite(path, pixels, tile=(256, 256), compression="zlib", photometric="rgb")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        index = 3 * (1024 // 256) + 3
        offset, size = page.dataoffsets[index], page.databytecounts[index]
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(np.random.default_rng(3).bytes(size))
    return pixels, (768, 768)


def _tiff_backends() -> list[str]:
    names = {b.name for b in registered_backends()}
    return [name for name in ("openslide", "tifffile") if name in names]


@pytest.mark.parametrize("backend", _tiff_backends())
def test_tile_that_fails_to_decode(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "corrupt tile.tif"
    pixels, (bad_x, bad_y) = _tiff_with_corrupt_tile(path)
    slide = open_slide(path, backend=backend, cache=TileCache(64 << 20))
    try:
        bad = RegionRequest(bad_x + 5, bad_y + 5, 20, 20)
        for _attempt in range(2):  # a failure is not cached: the second read fails again
            with pytest.raises(SlideError) as raised:
                slide.read_region(bad)
            assert str(path) in str(raised.value)
            assert "\n" not in str(raised.value)
        # One bad tile must not blank the slide (OpenSlide's handle needs reopening for that).
        good = slide.read_region(RegionRequest(0, 0, 64, 64))
        np.testing.assert_array_equal(good, pixels[:64, :64])
    finally:
        slide.close()
