"""One suite every slide backend must pass, on real files and on synthetic files made here.

Each case is a file, the backend that must read it, and the level-0 pixels the file holds
("truth") read by an independent route: OpenSlide itself, the array written, or Pillow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_file
from tests.engine.slide import synthetic
from tilescope.engine.slide import RegionRequest, SlideError, SlideSource, TileCache, open_slide
from tilescope.engine.slide.opener import registered_backends


@dataclass(frozen=True)
class Case:
    path: Path
    backend: str  # the backend that must read it (asked for by name)
    truth: np.ndarray  # level-0 pixels, H x W x C


def _openslide_truth(path: Path) -> np.ndarray:
    import openslide

    from tilescope.engine.slide.backends.openslide_backend import composite_on_white

    with openslide.OpenSlide(str(path)) as slide:
        return composite_on_white(np.asarray(slide.read_region((0, 0), 0, slide.dimensions)))


def _real(name: str, backend: str) -> Callable[[Path], Case]:
    def make(_tmp: Path) -> Case:
        _require(backend)
        path = shared_file("slides", name)
        return Case(path, backend, _openslide_truth(path))

    return make


def _require(backend: str) -> None:
    if backend not in {b.name for b in registered_backends()}:
        pytest.skip(f"backend {backend!r} is not registered yet")


def _ome_tiff_fluorescence(tmp: Path) -> Case:
    import tifffile

    _require("tifffile")
    base = synthetic.pattern(700, 900, 4, "uint16", seed=8)
    levels = [np.moveaxis(level, 2, 0) for level in synthetic.pyramid(base, 3)]  # CYX
    path = tmp / "fluo.ome.tif"
    options = {"tile": (128, 128), "compression": "zlib"}
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(levels[0], subifds=2, metadata={"axes": "CYX"}, **options)
        for level in levels[1:]:
            tif.write(level, subfiletype=1, **options)
    return Case(path, "tifffile", base)


def _tiled_jpeg_pyramid(tmp: Path) -> Case:
    import tifffile

    _require("tifffile")
    path = tmp / "pyramid.tif"
    with tifffile.TiffWriter(path) as tif:
        for index, level in enumerate(synthetic.pyramid(synthetic.pattern(1000, 1300, 3), 3)):
            tif.write(
                level,
                tile=(256, 256),
                compression="jpeg",
                photometric="rgb",
                subfiletype=1 if index else 0,
            )
    return Case(path, "tifffile", tifffile.imread(path, level=0))


def _zarr_rgb(tmp: Path) -> Case:
    base = synthetic.pattern(777, 1000, 3, seed=1)
    path = synthetic.write_ome_zarr(
        tmp / "rgb.zarr", synthetic.pyramid(base, 3), version="0.4", axes="cyx", chunks=256
    )
    return Case(path, "zarr", base)


def _zarr_fluorescence(tmp: Path) -> Case:
    base = synthetic.pattern(601, 710, 4, "uint16", seed=2)
    path = synthetic.write_ome_zarr(
        tmp / "fluo.zarr", synthetic.pyramid(base, 3), version="0.5", axes="tczyx", chunks=128
    )
    return Case(path, "zarr", base)


def _zarr_yxc(tmp: Path) -> Case:
    base = synthetic.pattern(300, 420, 3, seed=3)
    path = synthetic.write_ome_zarr(
        tmp / "yxc.zarr", synthetic.pyramid(base, 2), version="0.4", axes="yxc", chunks=100
    )
    return Case(path, "zarr", base)


def _png(tmp: Path) -> Case:
    base = synthetic.pattern(900, 1300, 3, seed=4)
    return Case(synthetic.write_pillow(tmp / "scan.png", base), "image", base)


def _png_gray16(tmp: Path) -> Case:
    base = synthetic.pattern(700, 555, 1, "uint16", seed=5)
    return Case(synthetic.write_pillow(tmp / "gray16.png", base), "image", base)


def _jpeg(tmp: Path) -> Case:
    from PIL import Image

    path = synthetic.write_pillow(tmp / "photo.jpg", synthetic.pattern(650, 1030, 3, seed=6))
    with Image.open(path) as image:
        return Case(path, "image", np.asarray(image.convert("RGB")))


def _jpeg_exif_rotated(tmp: Path) -> Case:
    from PIL import Image

    path = tmp / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90 degrees clockwise
    synthetic.write_pillow(path, synthetic.pattern(600, 900, 3, seed=7), exif=exif)
    with Image.open(path) as image:
        stored = np.asarray(image.convert("RGB"))
    return Case(path, "image", np.ascontiguousarray(np.rot90(stored, k=-1)))


CASES: dict[str, Callable[[Path], Case]] = {
    **{
        f"openslide-{name}": _real(name, "openslide")
        for name in ("CMU-1-Small-Region.svs", "small.svs", "boxes.tiff", "boxes_0.dcm")
    },
    **{
        f"tifffile-{name}": _real(name, "tifffile")
        for name in ("CMU-1-Small-Region.svs", "small.svs", "boxes.tiff")
    },
    "tifffile-ome-tiff-uint16": _ome_tiff_fluorescence,
    "tifffile-jpeg-pyramid": _tiled_jpeg_pyramid,
    "zarr-rgb-v0.4": _zarr_rgb,
    "zarr-fluorescence-uint16-v0.5": _zarr_fluorescence,
    "zarr-yxc-v0.4": _zarr_yxc,
    "image-png": _png,
    "image-png-gray16": _png_gray16,
    "image-jpeg": _jpeg,
    "image-jpeg-exif-rotated": _jpeg_exif_rotated,
}


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return CASES[request.param](tmp_path_factory.mktemp(request.param))


def _open(case: Case, cache_bytes: int = 64 << 20) -> SlideSource:
    return open_slide(case.path, backend=case.backend, cache=TileCache(cache_bytes))


@pytest.fixture
def slide(case: Case):
    with _open(case) as source:
        yield source


# -- an independent reference for downsampled reads --------------------------------------


def _area_mean_along(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, axis: int):
    """Mean of `values` over [start, end) along `axis`, pixels being constant unit boxes."""
    values = np.moveaxis(values.astype(np.float64), axis, 0)
    n = values.shape[0]
    cumulative = np.concatenate([np.zeros_like(values[:1]), np.cumsum(values, axis=0)])

    def integral(t: np.ndarray) -> np.ndarray:
        t = np.clip(t, 0, n)
        whole = np.minimum(np.floor(t).astype(int), n - 1)
        frac = (t - whole).reshape(-1, *([1] * (values.ndim - 1)))
        return cumulative[whole] + frac * values[whole]

    width = (ends - starts).reshape(-1, *([1] * (values.ndim - 1)))
    return np.moveaxis((integral(ends) - integral(starts)) / width, 0, axis)


def area_reference(truth: np.ndarray, request: RegionRequest, background: float) -> np.ndarray:
    """Exact area average of the level-0 truth (background outside) over each output pixel."""
    out_w, out_h = request.output_size
    x0, y0 = math.floor(request.x), math.floor(request.y)
    x1 = math.ceil(request.x + request.width)
    y1 = math.ceil(request.y + request.height)
    canvas = np.full((y1 - y0, x1 - x0, truth.shape[2]), background, dtype=np.float64)
    h, w = truth.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx0 < sx1 and sy0 < sy1:
        canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = truth[sy0:sy1, sx0:sx1]
    xs = request.x - x0 + np.arange(out_w + 1) * request.width / out_w
    ys = request.y - y0 + np.arange(out_h + 1) * request.height / out_h
    columns = _area_mean_along(canvas, xs[:-1], xs[1:], axis=1)
    return _area_mean_along(columns, ys[:-1], ys[1:], axis=0)


def _relative_error(actual: np.ndarray, reference: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute difference as a share of the truth's value range."""
    if actual.shape[0] > 2 and actual.shape[1] > 2:
        # The last row/column straddles the image edge, where files differ in how they pad.
        actual, reference = actual[:-1, :-1], reference[:-1, :-1]
    spread = max(float(truth.max()) - float(truth.min()), 1.0)
    return float(np.abs(actual.astype(np.float64) - reference).mean() / spread)


# -- the suite -----------------------------------------------------------------------------


def test_metadata_is_sane(slide: SlideSource, case: Case) -> None:
    meta = slide.metadata
    assert slide.backend_name == case.backend
    assert (meta.height, meta.width) == case.truth.shape[:2]
    assert meta.channels == case.truth.shape[2] == len(meta.channel_names)
    assert meta.dtype == case.truth.dtype.name
    assert meta.is_rgb == (meta.channels == 3 and meta.dtype == "uint8")
    assert meta.levels[0].downsample == 1.0
    assert all(
        a.downsample < b.downsample for a, b in zip(meta.levels, meta.levels[1:], strict=False)
    )
    for level in meta.levels:
        assert abs(level.width - meta.width / level.downsample) <= 1
        assert abs(level.height - meta.height / level.downsample) <= 1
    assert meta.mpp is None or (meta.mpp[0] > 0 and meta.mpp[1] > 0)
    assert meta.scene_count >= 1
    assert slide.background == (255 if meta.is_rgb else 0)
    info = meta.to_json(str(case.path))
    assert info["width"] == meta.width and len(info["levels"]) == len(meta.levels)


def test_level0_reads_equal_the_file_pixels(slide: SlideSource, case: Case) -> None:
    truth = case.truth
    h, w = truth.shape[:2]
    whole = slide.read_region(RegionRequest(0, 0, w, h))
    assert whole.dtype == truth.dtype
    np.testing.assert_array_equal(whole, truth)
    # An unaligned window crossing tile borders.
    x, y = w // 3 + 1, h // 4 + 3
    rw, rh = max(1, min(611, w - x)), max(1, min(533, h - y))
    window = slide.read_region(RegionRequest(x, y, rw, rh))
    np.testing.assert_array_equal(window, truth[y : y + rh, x : x + rw])


def _downsamples(slide: SlideSource) -> list[float]:
    meta = slide.metadata
    wanted = {*meta.downsamples[1:], 1.5, 3.0, meta.downsamples[-1] * 2}
    return sorted(d for d in wanted if max(meta.width, meta.height) / d >= 1)


def _assert_close_to_area_average(slide: SlideSource, case: Case, request: RegionRequest) -> None:
    pixels = slide.read_region(request)
    out_w, out_h = request.output_size
    assert pixels.shape == (out_h, out_w, slide.metadata.channels), request
    assert pixels.dtype == case.truth.dtype
    error = _relative_error(
        pixels, area_reference(case.truth, request, slide.background), case.truth
    )
    assert error < 0.03, f"{request}: mean error {error:.3%} of the value range"
    # Tolerances alone cannot tell a misplaced read on smooth content: the read must also be
    # much closer to the right place than to one output pixel off.
    off = replace(request, x=request.x + request.downsample, y=request.y + request.downsample)
    off_error = _relative_error(
        pixels, area_reference(case.truth, off, slide.background), case.truth
    )
    assert error < 0.5 * off_error, f"{request}: {error:.3%} vs {off_error:.3%} one pixel off"


def test_downsampled_reads_match_area_average(slide: SlideSource, case: Case) -> None:
    meta = slide.metadata
    for downsample in _downsamples(slide):
        _assert_close_to_area_average(
            slide, case, RegionRequest(0, 0, meta.width, meta.height, downsample)
        )
    # An unaligned window inside the image at a fractional downsample.
    window = RegionRequest(
        meta.width / 5 + 0.5, meta.height / 7 + 0.25, meta.width / 2, meta.height / 2, 2.7
    )
    if min(window.output_size) > 4:
        _assert_close_to_area_average(slide, case, window)


def test_reads_outside_the_image_return_background(slide: SlideSource, case: Case) -> None:
    meta, truth = slide.metadata, case.truth
    background = slide.background
    # Partly outside: 40 px left of and above the image, reaching past the bottom-right corner.
    x, y = -40, -30
    request = RegionRequest(x, y, meta.width + 90, meta.height + 70)
    pixels = slide.read_region(request)
    assert pixels.shape == (meta.height + 70, meta.width + 90, meta.channels)
    inside = pixels[30 : 30 + meta.height, 40 : 40 + meta.width]
    np.testing.assert_array_equal(inside, truth)
    outside = np.ones(pixels.shape[:2], dtype=bool)
    outside[30 : 30 + meta.height, 40 : 40 + meta.width] = False
    assert (pixels[outside] == background).all()
    # Entirely outside, at level 0 and downsampled.
    for downsample in (1.0, 4.0):
        far = slide.read_region(RegionRequest(meta.width + 100, -500, 64, 64, downsample))
        assert far.shape[2] == meta.channels
        assert (far == background).all()


def test_tiles_agree_with_level_reads(slide: SlideSource, case: Case) -> None:
    meta = slide.metadata
    for level in range(min(3, len(meta.levels))):
        lv = meta.levels[level]
        tw, th = slide.tile_size(level)
        cols, rows = slide.tile_grid(level)
        assert (cols - 1) * tw < lv.width <= cols * tw
        assert (rows - 1) * th < lv.height <= rows * th
        picks = {(c, r) for c in range(min(cols, 2)) for r in range(min(rows, 2))}
        picks.add((cols - 1, rows - 1))
        for col, row in sorted(picks):
            tile = slide.read_tile(level, col, row)
            w, h = min(tw, lv.width - col * tw), min(th, lv.height - row * th)
            assert tile.shape == (h, w, meta.channels)
            np.testing.assert_array_equal(
                tile, slide.read_level_region(level, col * tw, row * th, w, h)
            )
            if level == 0:
                np.testing.assert_array_equal(
                    tile, case.truth[row * th : row * th + h, col * tw : col * tw + w]
                )
        # A read at the level's own downsample is that level's pixels.
        request = RegionRequest(
            0, 0, lv.width * lv.downsample, lv.height * lv.downsample, lv.downsample
        )
        if request.output_size == (lv.width, lv.height):
            np.testing.assert_array_equal(
                slide.read_region(request),
                slide.read_level_region(level, 0, 0, lv.width, lv.height),
            )


def test_associated_images_are_rgb_and_unknown_names_are_errors(slide: SlideSource) -> None:
    for name in slide.metadata.associated_images:
        image = slide.associated_image(name)
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8, name
        assert min(image.shape[:2]) > 0
    with pytest.raises(SlideError, match="no-such-image"):
        slide.associated_image("no-such-image")


def test_parallel_reads_equal_serial_reads(case: Case) -> None:
    rng = np.random.default_rng(11)
    with _open(case) as probe:
        meta = probe.metadata
    requests = []
    for _ in range(48):
        downsample = float(rng.choice([1.0, 1.0, 2.0, 2.5, 4.0, 8.0]))
        w = float(rng.integers(16, 400)) * downsample
        h = float(rng.integers(16, 400)) * downsample
        x = float(rng.integers(-64, meta.width))
        y = float(rng.integers(-64, meta.height))
        requests.append(RegionRequest(x, y, w, h, downsample))
    with _open(case) as serial_slide:
        serial = [serial_slide.read_region(r) for r in requests]
    # A small cache makes threads evict each other's tiles while they read.
    with _open(case, cache_bytes=2 << 20) as shared, ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(shared.read_region, requests))
    for request, a, b in zip(requests, serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=str(request))


def test_closed_slide_refuses_reads(case: Case) -> None:
    slide = _open(case)
    slide.read_region(RegionRequest(0, 0, 8, 8))
    slide.close()
    slide.close()  # closing twice is harmless
    assert slide.closed
    with pytest.raises(SlideError, match="closed") as raised:
        slide.read_region(RegionRequest(0, 0, 8, 8))
    assert str(case.path) in str(raised.value)
    with pytest.raises(SlideError):
        slide.read_tile(0, 0, 0)


def test_context_manager_closes(case: Case) -> None:
    with _open(case) as slide:
        assert not slide.closed
        pixels = slide.read_region(RegionRequest(0, 0, 4, 4))
        assert pixels.shape[:2] == (4, 4)
    assert slide.closed
    with pytest.raises(SlideError):
        slide.read_region(RegionRequest(0, 0, 4, 4))
