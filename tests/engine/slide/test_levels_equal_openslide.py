"""Every level of every slide equals OpenSlide's level pixels, by region.

OpenSlide's read of a whole level from (0, 0) is its level pixels (no sub-pixel shift: the
level coordinate 0 / downsample is exact). Level-aligned regions read through
`read_region` must be crops of it, at every level, for the shared slides and for generated
ones whose downsamples are not integers: JPEG SVS and Aperio JPEG 2000 in both colour
spaces (33005 RGB, 33003 YCbCr), where a level read at round(x * ds) used to come out
resampled at a sub-pixel offset (whole-level mean absolute difference 0.7-2.1). Both the
backend chosen for each file and the OpenSlide backend are held to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile

from tests.conftest import SHARED_DATA, shared_file
from tilescope.engine.slide import RegionRequest, TileCache, open_slide
from tilescope.engine.slide.backends.openslide_backend import composite_on_white

SHARED_SLIDES = ["CMU-1-Small-Region.svs", "small.svs", "boxes.tiff"]


def _pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    planes = [np.sin(xx / (5 + 2 * c)) * np.cos(yy / (7 + c)) for c in range(3)]
    unit = (np.stack(planes, axis=2) + 1) / 2 * 0.8 + 0.2 * rng.random((height, width, 3))
    return (unit * 255).astype(np.uint8)


def _ycbcr(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.clip(np.rint(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)


def _tiles(pixels: np.ndarray, tile: int, encode):
    for y in range(0, pixels.shape[0], tile):
        for x in range(0, pixels.shape[1], tile):
            block = np.zeros((tile, tile, 3), np.uint8)
            part = pixels[y : y + tile, x : x + tile]
            block[: part.shape[0], : part.shape[1]] = part
            yield encode(block)


def write_svs(path: Path, compression: str | int, base: np.ndarray, tile: int = 256) -> Path:
    """An Aperio SVS whose levels shrink by 3 then 2 from odd sizes: downsamples like 2.997."""
    import imagecodecs

    levels = [base, base[::3, ::3], base[::3, ::3][::2, ::2]]
    height, width = base.shape[:2]
    kind = {"jpeg": "JPEG/RGB", 33005: "J2K/KDU", 33003: "J2K/YUV16"}[compression]
    with tifffile.TiffWriter(path) as tif:
        for index, pixels in enumerate(levels):
            head = f"Aperio Image Library v12.0.0\r\n{width}x{height} "
            description = (
                head + f"[0,0 {width}x{height}] ({tile}x{tile}) {kind} Q=70|AppMag = 20|MPP = 0.5"
                if index == 0
                else head + f"-> {pixels.shape[1]}x{pixels.shape[0]}"
            )
            common = {"tile": (tile, tile), "photometric": "rgb", "description": description}
            if compression == "jpeg":
                tif.write(pixels, compression="jpeg", metadata=None, **common)
                continue
            stored = _ycbcr(pixels) if compression == 33003 else pixels
            data = _tiles(
                stored,
                tile,
                lambda block: imagecodecs.jpeg2k_encode(
                    block, codecformat="J2K", level=80, mct=False
                ),
            )
            tif.write(
                data,
                shape=stored.shape,
                dtype=np.uint8,
                compression=compression,
                metadata=None,
                **common,
            )
    return path


GENERATED = {"jpeg.svs": "jpeg", "jp2k-rgb.svs": 33005, "jp2k-ycbcr.svs": 33003}


@pytest.fixture(params=SHARED_SLIDES + sorted(GENERATED))
def slide_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    name = request.param
    if name in GENERATED:
        return write_svs(tmp_path / name, GENERATED[name], _pattern(1001, 1203, seed=5))
    if not SHARED_DATA.exists():
        pytest.skip(f"shared sample data not available: {SHARED_DATA} (../shared/data)")
    return shared_file("slides", name)


def _regions(width: int, height: int, seed: int):
    rng = np.random.default_rng(seed)
    yield 0, 0, width, height  # the whole level
    yield width - 7, height - 5, 30, 20  # across the right and bottom edges
    for _ in range(8):
        w, h = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        yield int(rng.integers(-20, width)), int(rng.integers(-20, height)), w, h


@pytest.mark.parametrize("backend", [None, "openslide"])
def test_level_aligned_regions_equal_openslide_level_pixels(
    slide_path: Path, backend: str | None
) -> None:
    """By the backend chosen for the file (tifffile for all of these) and through OpenSlide
    itself, whose reads at non-integer downsamples must start at exact anchors."""
    reference = openslide.OpenSlide(str(slide_path))
    with open_slide(slide_path, cache=TileCache(0), backend=backend) as ours:
        assert ours.backend_name == (backend or "tifffile")
        assert ours.metadata.downsamples == reference.level_downsamples
        for level, (width, height) in enumerate(reference.level_dimensions):
            want = composite_on_white(
                np.asarray(reference.read_region((0, 0), level, (width, height)))
            )
            ds = ours.metadata.levels[level].downsample
            for x, y, w, h in _regions(width, height, seed=level):
                got = ours.read_region(RegionRequest(x * ds, y * ds, w * ds, h * ds, ds))
                expected = np.full((h, w, 3), 255, np.uint8)  # outside the image: white
                sx0, sy0 = max(x, 0), max(y, 0)
                sx1, sy1 = min(x + w, width), min(y + h, height)
                if sx0 < sx1 and sy0 < sy1:
                    expected[sy0 - y : sy1 - y, sx0 - x : sx1 - x] = want[sy0:sy1, sx0:sx1]
                np.testing.assert_array_equal(
                    got, expected, err_msg=f"{slide_path.name} level {level} at ({x}, {y})"
                )
    reference.close()


def test_exact_anchor_lands_within_a_512th_of_a_level_pixel() -> None:
    from tilescope.engine.slide.backends.openslide_backend import exact_anchor

    for ds in (2.997005988023952, 5.994011976047904, 16.0021, 1.5):
        for position in range(0, 5000, 37):
            anchor, k = exact_anchor(position, ds)
            assert k <= position and 0 <= anchor / ds - k < 1 / 512


def test_generated_levels_have_non_integer_downsamples(tmp_path: Path) -> None:
    """The generated slides do test what they claim: levels 1 and 2 are not powers of two."""
    path = write_svs(tmp_path / "check.svs", 33005, _pattern(1001, 1203))
    downsamples = openslide.OpenSlide(str(path)).level_downsamples
    assert all(not float(ds).is_integer() for ds in downsamples[1:])
