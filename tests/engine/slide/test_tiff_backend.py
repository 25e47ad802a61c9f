"""The tifffile backend against OpenSlide (same pixels, same metadata) and against the arrays
synthetic files were written from (OME-TIFF, strip TIFF, multi-page documents)."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile

from tests.conftest import shared_file
from tilescope.engine.slide import RegionRequest, SlideError, TileCache, open_slide
from tilescope.engine.slide.backends import openslide_backend, tiff_backend
from tilescope.engine.slide.backends.tiff_backend import TiffSource

SHARED_SLIDES = ["CMU-1-Small-Region.svs", "small.svs", "boxes.tiff"]


# -- helpers ------------------------------------------------------------------------------
def _openslide_rgb(slide: openslide.OpenSlide, x: int, y: int, level: int, w: int, h: int):
    rgba = np.asarray(slide.read_region((x, y), level, (w, h)))
    return openslide_backend.composite_on_white(rgba)


def _image(height: int, width: int, channels: int = 3, dtype: str = "uint8", seed: int = 0):
    """Smooth structure plus noise, so that every tile differs and JPEG has work to do."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    planes = [
        (np.sin(xx / (9 + 4 * c)) + np.cos(yy / (13 + 3 * c)) + 2) / 4 for c in range(channels)
    ]
    unit = np.stack(planes, axis=2) * 0.8 + 0.2 * rng.random((height, width, channels))
    top = np.iinfo(dtype).max
    return (unit * top).astype(dtype)


def _write_jpeg_pyramid(path: Path, base: np.ndarray, levels: int = 3, tile: int = 256) -> None:
    """A generic tiled pyramidal TIFF, JPEG (YCbCr 2x2) tiles, reduced pages in the main chain."""
    with tifffile.TiffWriter(path) as tif:
        image = base
        for level in range(levels):
            tif.write(
                image,
                tile=(tile, tile),
                compression="jpeg",
                photometric="rgb",
                subfiletype=1 if level else 0,
            )
            image = image[::2, ::2]


def _random_regions(width: int, height: int, count: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        w, h = int(rng.integers(1, 400)), int(rng.integers(1, 400))
        x = int(rng.integers(-50, width))
        y = int(rng.integers(-50, height))
        yield x, y, w, h


# -- real files, compared with OpenSlide ----------------------------------------------------
@pytest.fixture(params=SHARED_SLIDES)
def shared_slide(request: pytest.FixtureRequest) -> Path:
    return shared_file("slides", request.param)


def test_shared_files_open_with_tifffile_and_metadata_matches_openslide(shared_slide):
    with open_slide(shared_slide) as ours, open_slide(shared_slide, backend="openslide") as ref:
        assert ours.backend_name == "tifffile"
        mine, theirs = ours.metadata, ref.metadata
        assert mine.levels == theirs.levels  # sizes and downsamples computed as OpenSlide does
        assert mine.associated_images == theirs.associated_images
        if shared_slide.suffix == ".svs":
            assert mine.format == "aperio"
            assert mine.mpp == theirs.mpp == (0.499, 0.499)
            assert mine.objective_power == theirs.objective_power == 20.0
            assert mine.properties["aperio.AppMag"] == theirs.properties["aperio.AppMag"]
        else:
            assert mine.format == "generic-tiff"
            # 28.35 px/cm is 352 um/px: a default, not a microscope; OpenSlide reports it.
            assert mine.mpp is None


def test_every_native_tile_equals_openslide(shared_slide):
    """OpenSlide's whole level read at (0, 0) is its native pixels; every tile of ours, in our
    cache grid and in the file's own grid, must equal the same crop of it."""
    reference = openslide.OpenSlide(str(shared_slide))
    with open_slide(shared_slide, cache=TileCache(0)) as ours:
        for level, (width, height) in enumerate(reference.level_dimensions):
            want = _openslide_rgb(reference, 0, 0, level, width, height)
            columns, rows = ours.tile_grid(level)
            tw, th = ours.tile_size(level)
            for row in range(rows):
                for column in range(columns):
                    tile = ours.read_tile(level, column, row)
                    crop = want[row * th : (row + 1) * th, column * tw : (column + 1) * tw]
                    np.testing.assert_array_equal(tile, crop, err_msg=f"{level} {column} {row}")
            tw = int(reference.properties[f"openslide.level[{level}].tile-width"])
            th = int(reference.properties[f"openslide.level[{level}].tile-height"])
            for ty in range(0, height, th):
                for tx in range(0, width, tw):
                    got = ours.read_level_region(level, tx, ty, tw, th)
                    crop = want[ty : ty + th, tx : tx + tw]
                    np.testing.assert_array_equal(got[: crop.shape[0], : crop.shape[1]], crop)
                    assert (got[crop.shape[0] :] == 255).all()  # outside: white, as OpenSlide
                    assert (got[:, crop.shape[1] :] == 255).all()
    reference.close()


def test_random_regions_at_every_level_equal_openslide(shared_slide):
    """Aligned and unaligned positions, regions crossing the right/bottom edges and beyond."""
    reference = openslide.OpenSlide(str(shared_slide))
    with open_slide(shared_slide) as ours:
        for level, (width, height) in enumerate(reference.level_dimensions):
            ds = ours.metadata.levels[level].downsample
            for n, (x, y, w, h) in enumerate(_random_regions(width, height, 12, seed=level)):
                # Half the requests at level-0 positions that are not multiples of ds.
                x0 = x * ds + (n % 2) * (ds / 3 if level else 0)
                y0 = y * ds
                location = (round(x0), round(y0))
                got = ours.read_region(RegionRequest(location[0], location[1], w * ds, h * ds, ds))
                want = _openslide_rgb(reference, *location, level, w, h)
                np.testing.assert_array_equal(got, want, err_msg=f"level {level} {location}")
    reference.close()


def test_associated_images_equal_openslide(shared_slide):
    reference = openslide.OpenSlide(str(shared_slide))
    with open_slide(shared_slide) as ours:
        for name, image in reference.associated_images.items():
            want = openslide_backend.composite_on_white(np.asarray(image.convert("RGBA")))
            np.testing.assert_array_equal(ours.associated_image(name), want, err_msg=name)
        with pytest.raises(SlideError, match="no associated image"):
            ours.associated_image("nonexistent")
    reference.close()


@pytest.mark.parametrize(("name", "level"), [("CMU-1-Small-Region.svs", 0), ("boxes.tiff", 1)])
def test_cli_info_and_region_use_tifffile_and_equal_openslide(name, level, tmp_path, capsys):
    import json

    from tilescope.cli.main import main

    path = shared_file("slides", name)
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "tifffile"
    reference = openslide.OpenSlide(str(path))
    ds = reference.level_downsamples[level]
    x, y, w, h = 70, 90, 133, 57  # level pixels
    out = tmp_path / "region.tif"
    argv = ["region", str(path), "--x", str(x * ds), "--y", str(y * ds), "--width", str(w * ds),
            "--height", str(h * ds), "--level", str(level), "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    want = _openslide_rgb(reference, round(x * ds), round(y * ds), level, w, h)
    np.testing.assert_array_equal(tifffile.imread(out), want)
    reference.close()


# -- synthetic files --------------------------------------------------------------------------
def test_jpeg_tiled_pyramid_equals_openslide(tmp_path):
    path = tmp_path / "pyramid.tif"
    _write_jpeg_pyramid(path, _image(1000, 1300))
    reference = openslide.OpenSlide(str(path))
    assert reference.properties["openslide.vendor"] == "generic-tiff"
    with open_slide(path, cache=TileCache(0)) as ours:
        assert ours.backend_name == "tifffile"
        assert [(lv.width, lv.height) for lv in ours.metadata.levels] == list(
            reference.level_dimensions
        )
        assert ours.metadata.downsamples == reference.level_downsamples
        for level, (width, height) in enumerate(reference.level_dimensions):
            got = ours.read_level_region(level, 0, 0, width, height)
            np.testing.assert_array_equal(
                got, _openslide_rgb(reference, 0, 0, level, width, height)
            )
            ds = ours.metadata.levels[level].downsample
            for x, y, w, h in _random_regions(width, height, 6, seed=10 + level):
                got = ours.read_region(RegionRequest(x * ds, y * ds, w * ds, h * ds, ds))
                want = _openslide_rgb(reference, round(x * ds), round(y * ds), level, w, h)
                np.testing.assert_array_equal(got, want)
    reference.close()


def test_ome_tiff_pyramid_multichannel_uint16(tmp_path):
    path = tmp_path / "multiplex.ome.tif"
    base = np.moveaxis(_image(700, 900, channels=4, dtype="uint16", seed=3), 2, 0)  # CYX
    levels = [base, base[:, ::2, ::2], base[:, ::4, ::4]]
    names = ["DAPI", "CD3", "CD8", "PanCK"]
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        metadata = {
            "axes": "CYX",
            "Channel": {"Name": names},
            "PhysicalSizeX": 325.0,
            "PhysicalSizeXUnit": "nm",
            "PhysicalSizeY": 0.325,
            "PhysicalSizeYUnit": "µm",
        }
        options = {"tile": (128, 128), "compression": "zlib", "predictor": True}
        tif.write(levels[0], subifds=2, metadata=metadata, **options)
        for level in levels[1:]:
            tif.write(level, subfiletype=1, **options)
    with open_slide(path) as slide:
        meta = slide.metadata
        assert slide.backend_name == "tifffile"
        assert meta.format == "ome-tiff"
        assert meta.channel_names == tuple(names)
        assert (meta.channels, meta.dtype, meta.is_rgb) == (4, "uint16", False)
        assert meta.mpp == pytest.approx((0.325, 0.325))
        assert [(lv.width, lv.height) for lv in meta.levels] == [(900, 700), (450, 350), (225, 175)]
        for index, level in enumerate(levels):
            got = slide.read_level_region(index, 0, 0, level.shape[2], level.shape[1])
            np.testing.assert_array_equal(got, np.moveaxis(level, 0, 2))
        # Outside the image a fluorescence image is black, not white.
        edge = slide.read_level_region(0, 850, 650, 100, 100)
        assert edge.shape == (100, 100, 4) and not edge[60:, 60:].any()


def test_strip_tiff_opens_although_openslide_refuses(tmp_path):
    pixels = _image(300, 520, seed=5)
    lzw = tmp_path / "strips.tif"
    raw = tmp_path / "raw.tiff"
    tifffile.imwrite(lzw, pixels, rowsperstrip=37, compression="lzw", predictor=True)
    tifffile.imwrite(raw, pixels, rowsperstrip=300, photometric="rgb")
    for path in (lzw, raw):
        with pytest.raises(openslide.OpenSlideError):
            openslide.OpenSlide(str(path))
        with open_slide(path) as slide:
            assert slide.backend_name == "tifffile"
            assert slide.metadata.format == "tiff"
            np.testing.assert_array_equal(slide.read_level_region(0, 0, 0, 520, 300), pixels)
            np.testing.assert_array_equal(
                slide.read_region(RegionRequest(111, 36, 300, 3)), pixels[36:39, 111:411]
            )


def test_planar_and_greyscale_strips(tmp_path):
    rgb = _image(64, 80, seed=6)
    planar = tmp_path / "planar.tif"
    tifffile.imwrite(
        planar,
        np.moveaxis(rgb, 2, 0),
        photometric="rgb",
        planarconfig="separate",
        rowsperstrip=10,
        compression="zlib",
    )
    grey = tmp_path / "grey.tif"
    tifffile.imwrite(grey, rgb[:, :, 0], rowsperstrip=7)
    with open_slide(planar) as slide:
        np.testing.assert_array_equal(slide.read_level_region(0, 0, 0, 80, 64), rgb)
    with open_slide(grey) as slide:
        assert (slide.metadata.channels, slide.metadata.is_rgb) == (1, False)
        np.testing.assert_array_equal(
            slide.read_level_region(0, 5, 3, 40, 50)[:, :, 0], rgb[3:53, 5:45, 0]
        )


def test_multi_page_document_pages_are_scenes(tmp_path):
    path = tmp_path / "document.tif"
    # The fourth page is a little smaller than the third with nearly its aspect ratio: a page
    # of its own, not a reduced level of the one before it.
    pages = [_image(400, 300, seed=s) for s in range(2)] + [
        _image(200, 500, seed=2),
        _image(175, 420, seed=3),
    ]
    with tifffile.TiffWriter(path) as tif:
        for page in pages:
            tif.write(page, photometric="rgb", compression="zlib")
    for scene, page in enumerate(pages):
        with open_slide(path, scene=scene) as slide:
            assert slide.metadata.scene_count == 4
            assert len(slide.metadata.levels) == 1
            got = slide.read_level_region(0, 0, 0, page.shape[1], page.shape[0])
            np.testing.assert_array_equal(got, page)
    with pytest.raises(SlideError, match=r"scene 4 does not exist \(the file has 4\)"):
        TiffSource(path, scene=4)


def test_corrupt_tile_names_file_level_and_tile(tmp_path):
    path = tmp_path / "broken.tif"
    _write_jpeg_pyramid(path, _image(600, 600), levels=1)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        offset, count = page.dataoffsets[4], page.databytecounts[4]  # tile (1, 1) of 3 x 3
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = bytes(count)  # no JPEG markers left
    path.write_bytes(bytes(data))
    with open_slide(path, cache=TileCache(0)) as slide:
        assert slide.backend_name == "tifffile"
        slide.read_level_region(0, 520, 0, 50, 50)  # tiles elsewhere still read
        with pytest.raises(SlideError) as caught:
            slide.read_level_region(0, 300, 300, 10, 10)
    message = str(caught.value)
    assert str(path) in message and "level 0" in message and "tile (1, 1)" in message


def test_truncated_file_is_a_slide_error(tmp_path):
    path = tmp_path / "truncated.tif"
    _write_jpeg_pyramid(path, _image(600, 600), levels=1)
    with tifffile.TiffFile(path) as tif:
        last = tif.pages.first.dataoffsets[-1]
    shutil.copyfile(path, tmp_path / "full.tif")
    with open(path, "r+b") as handle:
        handle.truncate(last + 10)
    try:
        slide = TiffSource(path, cache=TileCache(0))
    except SlideError as error:
        assert str(path) in str(error)
        return
    with slide, pytest.raises(SlideError, match="level 0"):
        slide.read_level_region(0, 0, 0, 600, 600)


def test_parallel_reads_equal_serial_reads(tmp_path):
    path = tmp_path / "pyramid.tif"
    _write_jpeg_pyramid(path, _image(1100, 1200), levels=2, tile=128)
    with open_slide(path, cache=TileCache(0)) as slide:
        columns, rows = slide.tile_grid(0)
        keys = [(c, r) for r in range(rows) for c in range(columns)]
        serial = [slide.read_tile(0, c, r) for c, r in keys]
        with ThreadPoolExecutor(4) as pool:
            parallel = list(pool.map(lambda key: slide.read_tile(0, *key), keys * 3))
    for index, tile in enumerate(parallel):
        np.testing.assert_array_equal(tile, serial[index % len(keys)])


def test_tile_size_is_native_or_a_multiple_of_tiny_tiles(cmu_small_svs, tmp_path):
    with open_slide(cmu_small_svs) as slide:
        assert slide.tile_size(0) == (480, 480)  # 240 px Aperio tiles, four per cache entry
    for native, cached in [(512, 512), (256, 256), (64, 256)]:
        path = tmp_path / f"pyramid{native}.tif"
        _write_jpeg_pyramid(path, _image(700, 700), levels=1, tile=native)
        with open_slide(path) as slide:
            assert slide.tile_size(0) == (cached, cached)


def test_probe_outranks_openslide_only_where_exact(cmu_small_svs, tmp_path):
    assert tiff_backend.probe(cmu_small_svs) > openslide_backend.probe(cmu_small_svs)
    tif = tmp_path / "pyramid.tif"
    _write_jpeg_pyramid(tif, _image(300, 300), levels=1)
    assert tiff_backend.probe(tif) > openslide_backend.probe(tif)
    not_tiff = tmp_path / "notes.tif"
    not_tiff.write_text("not a TIFF")
    assert tiff_backend.probe(not_tiff) == 0.0
    ndpi = tmp_path / "scan.ndpi"
    shutil.copyfile(tif, ndpi)
    assert tiff_backend.probe(ndpi) == 0.0
    with pytest.raises(SlideError, match=r"notes\.tif"):
        open_slide(not_tiff)


def test_closed_source_refuses_reads(cmu_small_svs):
    slide = open_slide(cmu_small_svs)
    slide.close()
    with pytest.raises(SlideError, match="closed"):
        slide.read_level_region(0, 0, 0, 10, 10)


@pytest.mark.parametrize(("height", "width", "rows_per_strip"), [(40, 9000, 16), (2500, 64, 2500)])
def test_strips_wider_or_taller_than_a_cache_tile(tmp_path, height, width, rows_per_strip):
    """Such strips are decoded once and shared by the cache tiles that cross them."""
    pixels = _image(height, width, seed=7)
    path = tmp_path / "strips.tif"
    tifffile.imwrite(path, pixels, rowsperstrip=rows_per_strip, compression="zlib")
    cache = TileCache(256 * 1024**2)
    with open_slide(path, cache=cache) as slide:
        tile_w, tile_h = slide.tile_size(0)
        assert tile_w < width or tile_h < height
        np.testing.assert_array_equal(slide.read_level_region(0, 0, 0, width, height), pixels)
        strips = [key for key in list(cache._tiles) if "strip" in key]
        assert len(strips) == -(-height // rows_per_strip)  # each strip decoded once


def _rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.clip(np.rint(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("compression", [33005, 33003])
def test_aperio_jpeg2000_tiles(tmp_path, compression):
    """Aperio's JPEG 2000 codes: 33005 stores RGB, 33003 YCbCr that the reader converts.
    (OpenSlide refuses these synthetic files, so the truth is the image written, lossless.)"""
    import imagecodecs

    pixels = _image(300, 280, seed=8)
    stored = _rgb_to_ycbcr(pixels) if compression == 33003 else pixels

    def tiles():
        for y in range(0, 300, 128):
            for x in range(0, 280, 128):
                tile = np.zeros((128, 128, 3), np.uint8)
                part = stored[y : y + 128, x : x + 128]
                tile[: part.shape[0], : part.shape[1]] = part
                yield imagecodecs.jpeg2k_encode(tile, codecformat="J2K", reversible=True, mct=False)

    path = tmp_path / "jp2k.svs"
    with tifffile.TiffWriter(path) as tif:
        tif.write(
            tiles(),
            shape=stored.shape,
            dtype=np.uint8,
            tile=(128, 128),
            compression=compression,
            photometric="rgb",
            description="Aperio Image Library v12.0.0 \r\n280x300 (128x128) J2K|MPP = 0.25",
        )
    with open_slide(path) as slide:
        assert slide.backend_name == "tifffile"
        assert slide.metadata.mpp == (0.25, 0.25)
        got = slide.read_level_region(0, 0, 0, 280, 300)
    if compression == 33005:
        np.testing.assert_array_equal(got, pixels)
    else:  # two 8-bit roundings between RGB and YCbCr
        assert np.abs(got.astype(int) - pixels).max() <= 2


def test_qptiff_like_multiplex_file(tmp_path):
    """PerkinElmer QPTIFF layout: channel pages per level in the main chain, a thumbnail after
    the full-resolution pages, macro and label at the end; names in per-page XML."""
    path = tmp_path / "multiplex.qptiff"
    names = ["DAPI", "Opal 520", "Opal 690"]
    base = _image(512, 640, channels=3, dtype="uint8", seed=9)
    options = {
        "software": "PerkinElmer-QPI",
        "resolution": (20000, 20000),
        "resolutionunit": 3,
        "metadata": None,  # no tifffile "shaped" description: QPTIFF writers add none
    }
    with tifffile.TiffWriter(path) as tif:
        for c, name in enumerate(names):
            description = (
                '<?xml version="1.0" encoding="utf-8"?>\r\n<PerkinElmer-QPI-ImageDescription>'
                f"<ImageType>FullResolution</ImageType><Name>{name}</Name>"
                "</PerkinElmer-QPI-ImageDescription>"
            )
            tif.write(base[:, :, c], tile=(128, 128), description=description, **options)
        tif.write(base[::8, ::8], photometric="rgb", **options)  # thumbnail
        for factor in (2, 4):
            for c in range(3):
                tif.write(base[::factor, ::factor, c], tile=(128, 128), subfiletype=1, **options)
        tif.write(_image(50, 150, seed=1), photometric="rgb", **options)  # macro
        tif.write(_image(60, 60, seed=2), photometric="rgb", **options)  # label
    with open_slide(path) as slide:
        meta = slide.metadata
        assert (slide.backend_name, meta.format) == ("tifffile", "qptiff")
        assert meta.channel_names == tuple(names)
        assert meta.mpp == pytest.approx((0.5, 0.5))
        assert [(lv.width, lv.height) for lv in meta.levels] == [(640, 512), (320, 256), (160, 128)]
        assert set(meta.associated_images) == {"thumbnail", "macro", "label"}
        assert slide.associated_image("label").shape == (60, 60, 3)
        for level, factor in enumerate((1, 2, 4)):
            want = base[::factor, ::factor]
            got = slide.read_level_region(level, 0, 0, want.shape[1], want.shape[0])
            np.testing.assert_array_equal(got, want)


def test_palette_and_min_is_white_pages_read_as_libtiff_shows_them(tmp_path):
    rng = np.random.default_rng(11)
    indices = rng.integers(0, 256, (70, 90), dtype=np.uint8)
    colormap = rng.integers(0, 65536, (3, 256), dtype=np.uint16)
    palette = tmp_path / "palette.tif"
    tifffile.imwrite(palette, indices, photometric="palette", colormap=colormap, tile=(32, 32))
    with open_slide(palette) as slide:
        assert (slide.metadata.channels, slide.metadata.dtype) == (3, "uint8")
        want = (colormap >> 8).astype(np.uint8).T[indices]
        np.testing.assert_array_equal(slide.read_level_region(0, 0, 0, 90, 70), want)
        reference = openslide.OpenSlide(str(palette))
        np.testing.assert_array_equal(want, _openslide_rgb(reference, 0, 0, 0, 90, 70))
        reference.close()
    white = tmp_path / "miniswhite.tif"
    tifffile.imwrite(white, indices, photometric="miniswhite")
    with open_slide(white) as slide:
        np.testing.assert_array_equal(
            slide.read_level_region(0, 0, 0, 90, 70)[:, :, 0], 255 - indices
        )


def test_ome_tiff_rgb_jpeg_pyramid(tmp_path):
    path = tmp_path / "brightfield.ome.tiff"
    base = _image(600, 700, seed=12)
    with tifffile.TiffWriter(path) as tif:
        options = {"tile": (256, 256), "compression": "jpeg", "photometric": "rgb"}
        tif.write(
            base, subifds=2, metadata={"PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25}, **options
        )
        tif.write(base[::2, ::2], subfiletype=1, **options)
        tif.write(base[::4, ::4], subfiletype=1, **options)
    with tifffile.TiffFile(path) as tif:
        truth = [level.asarray() for level in tif.series[0].levels]
    with open_slide(path) as slide:
        meta = slide.metadata
        assert (meta.format, meta.is_rgb, meta.channel_names) == ("ome-tiff", True, ("R", "G", "B"))
        assert meta.mpp == pytest.approx((0.25, 0.25))
        for level, want in enumerate(truth):
            got = slide.read_level_region(level, 0, 0, want.shape[1], want.shape[0])
            np.testing.assert_array_equal(got, want)


def test_tile_with_no_stored_bytes_is_white_like_openslide(tmp_path):
    path = tmp_path / "sparse.tif"
    _write_jpeg_pyramid(path, _image(512, 512), levels=1)
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages.first.tags["TileByteCounts"]
        offset, itemsize = tag.valueoffset, tif.tiff.offsetsize
    data = bytearray(path.read_bytes())
    data[offset + itemsize : offset + 2 * itemsize] = bytes(itemsize)  # tile (1, 0): 0 bytes
    path.write_bytes(bytes(data))
    reference = openslide.OpenSlide(str(path))
    want = _openslide_rgb(reference, 0, 0, 0, 512, 512)
    reference.close()
    assert (want[:256, 256:] == 255).all()
    with open_slide(path) as slide:
        np.testing.assert_array_equal(slide.read_level_region(0, 0, 0, 512, 512), want)
