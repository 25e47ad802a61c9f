"""Plain images: colour modes, EXIF orientation, frames, the size limit, the lazy pyramid."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.engine.slide import synthetic
from tilescope.engine.slide import RegionRequest, SlideError, open_slide
from tilescope.engine.slide.backends import image_backend


def _whole(path: Path, scene: int = 0) -> np.ndarray:
    with open_slide(path, scene=scene) as slide:
        assert slide.backend_name == "image"
        meta = slide.metadata
        return slide.read_region(RegionRequest(0, 0, meta.width, meta.height))


RGB = synthetic.pattern(60, 80, 3)


def test_palette_png_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "palette.png"
    Image.fromarray(RGB).quantize(16).save(path)
    with Image.open(path) as image:
        expected = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(_whole(path), expected)


def test_transparency_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    rgba[:, :, 0] = 200
    rgba[:, :15, 3] = 255  # left half opaque red-ish, right half fully transparent
    rgba[:10, 15:, 3] = 0
    rgba[10:, 15:, 3] = 128
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    pixels = _whole(path)
    assert pixels.shape == (20, 30, 3)
    assert (pixels[:, :15] == [200, 0, 0]).all()
    assert (pixels[:10, 15:] == 255).all()
    half = (200 * 128 + 255 * 127 + 127) // 255, (255 * 127 + 127) // 255
    assert (pixels[10:, 15:, 0] == half[0]).all() and (pixels[10:, 15:, 1] == half[1]).all()


def test_grey_with_alpha_becomes_rgb(tmp_path: Path) -> None:
    la = np.stack([np.full((8, 8), 40, np.uint8), np.full((8, 8), 255, np.uint8)], axis=2)
    path = tmp_path / "la.png"
    Image.fromarray(la, "LA").save(path)
    assert (_whole(path) == 40).all()


def test_eight_bit_grey_becomes_rgb(tmp_path: Path) -> None:
    grey = RGB[:, :, 0]
    path = tmp_path / "grey.png"
    Image.fromarray(grey).save(path)
    pixels = _whole(path)
    assert pixels.shape == (60, 80, 3)
    for c in range(3):
        np.testing.assert_array_equal(pixels[:, :, c], grey)


def test_sixteen_bit_grey_keeps_its_precision(tmp_path: Path) -> None:
    grey = synthetic.pattern(50, 40, 1, "uint16")
    path = synthetic.write_pillow(tmp_path / "g16.png", grey)
    with open_slide(path) as slide:
        meta = slide.metadata
        assert (meta.channels, meta.dtype, meta.is_rgb) == (1, "uint16", False)
        assert slide.background == 0
        np.testing.assert_array_equal(slide.read_region(RegionRequest(0, 0, 40, 50)), grey)


def test_one_bit_bmp(tmp_path: Path) -> None:
    bits = (RGB[:, :, 0] > 100).astype(np.uint8) * 255
    path = tmp_path / "bits.bmp"
    Image.fromarray(bits).convert("1").save(path)
    pixels = _whole(path)
    np.testing.assert_array_equal(pixels[:, :, 1], bits)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.fromarray(RGB).convert("CMYK").save(path, quality=95)
    with Image.open(path) as image:
        assert image.mode == "CMYK"
        expected = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(_whole(path), expected)


def test_lossless_webp_and_bmp_are_exact(tmp_path: Path) -> None:
    for name, args in (("a.webp", {"lossless": True}), ("a.bmp", {})):
        path = synthetic.write_pillow(tmp_path / name, RGB, **args)
        np.testing.assert_array_equal(_whole(path), RGB)


def test_gif_frames_are_scenes(tmp_path: Path) -> None:
    frames = [Image.fromarray(np.full((10, 12, 3), v, np.uint8)) for v in (0, 120, 250)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with open_slide(path) as slide:
        assert slide.metadata.scene_count == 3
        assert slide.metadata.format == "gif"
    middle = _whole(path, scene=1)
    assert abs(int(middle.mean()) - 120) <= 2
    with pytest.raises(SlideError, match="scene 3 does not exist"):
        open_slide(path, scene=3)


# EXIF orientation -> the displayed image from the stored one, written from the EXIF table
# ("row 0 is the visual right side, column 0 the visual bottom", ...) rather than from Pillow.
ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.transpose(a, (1, 0, 2)),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: np.transpose(a[::-1, ::-1], (1, 0, 2)),
    8: lambda a: np.rot90(a, k=1),
}


@pytest.mark.parametrize("orientation", list(ORIENTATIONS))
def test_exif_orientation_is_honoured(tmp_path: Path, orientation: int) -> None:
    stored = synthetic.pattern(40, 70, 3)
    path = tmp_path / f"o{orientation}.png"  # lossless, so the truth is exact
    exif = Image.Exif()
    exif[0x0112] = orientation
    synthetic.write_pillow(path, stored, exif=exif)
    np.testing.assert_array_equal(_whole(path), ORIENTATIONS[orientation](stored))


def test_dpi_is_not_a_microscope_resolution(tmp_path: Path) -> None:
    path = synthetic.write_pillow(tmp_path / "scan.png", RGB, dpi=(300, 300))
    with open_slide(path) as slide:
        assert slide.metadata.mpp is None
        assert slide.metadata.properties["image.dpi"] == pytest.approx((300, 300), rel=1e-3)


def test_images_above_pillows_default_limit_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = synthetic.write_pillow(tmp_path / "big.png", RGB)
    # Stand-in for Pillow's 89-megapixel default: the file is 2x over the error threshold.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", RGB.shape[0] * RGB.shape[1] // 4)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    np.testing.assert_array_equal(_whole(path), RGB)
    assert RGB.shape[0] * RGB.shape[1] // 4 == Image.MAX_IMAGE_PIXELS, "limit restored"


def test_images_beyond_the_memory_budget_are_refused_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening reads the header only; the first read checks the decode against the budget
    (Pillow's 4-byte buffer + our RGB copy + the pyramid: 8 MB here, over 1 MiB)."""
    from tilescope.engine.errors import BudgetError

    path = synthetic.write_pillow(tmp_path / "huge.png", synthetic.pattern(1000, 1000, 3))
    monkeypatch.setenv("TILESCOPE_MEMORY_BUDGET_MB", "1")
    with open_slide(path) as slide:
        assert slide.metadata.width == 1000
        with pytest.raises(BudgetError, match="1000 x 1000 image would need") as raised:
            slide.read_region(RegionRequest(0, 0, 10, 10))
    assert str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)
    monkeypatch.setenv("TILESCOPE_MEMORY_BUDGET_MB", "64")
    with open_slide(path) as slide:
        assert slide.read_region(RegionRequest(0, 0, 10, 10)).shape == (10, 10, 3)


def test_truncated_png_is_refused_not_half_shown(tmp_path: Path) -> None:
    path = synthetic.write_pillow(tmp_path / "cut.png", synthetic.pattern(300, 300, 3))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(SlideError, match="cannot decode") as raised:
        open_slide(path)
    assert str(path) in str(raised.value)


def test_truncated_jpeg_is_refused_even_if_pillow_was_told_to_allow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    path = synthetic.write_pillow(tmp_path / "cut.jpg", synthetic.pattern(300, 300, 3))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as some libraries do
    with open_slide(path) as slide, pytest.raises(SlideError, match="cannot decode"):
        slide.read_region(RegionRequest(0, 0, 300, 300))  # JPEG: found when decoding
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True, "the caller's setting is restored"


@pytest.mark.parametrize(
    ("size", "levels"),
    [
        ((512, 512), [(512, 512)]),
        ((513, 10), [(513, 10), (257, 5)]),
        ((3000, 1001), [(3000, 1001), (1500, 501), (750, 251), (375, 126)]),
    ],
)
def test_pyramid_halves_until_it_fits_512(
    size: tuple[int, int], levels: list[tuple[int, int]]
) -> None:
    assert image_backend.pyramid_shapes(*size) == levels


def test_levels_are_two_by_two_means_computed_once_on_demand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = synthetic.pattern(1500, 1100, 3)
    path = synthetic.write_pillow(tmp_path / "p.png", base)
    calls = 0
    lock = threading.Lock()
    real_halve = image_backend.halve

    def counting_halve(pixels: np.ndarray) -> np.ndarray:
        nonlocal calls
        with lock:
            calls += 1
        return real_halve(pixels)

    monkeypatch.setattr(image_backend, "halve", counting_halve)
    with open_slide(path) as slide:
        assert [lv.downsample for lv in slide.metadata.levels] == [1.0, 2.0, 4.0]
        assert calls == 0, "nothing is computed before it is needed"
        assert slide.cached_tile(2, 0, 0) is None
        lv = slide.metadata.levels[2]
        with ThreadPoolExecutor(12) as pool:
            reads = list(
                pool.map(lambda _: slide.read_level_region(2, 0, 0, lv.width, lv.height), range(12))
            )
        assert calls == 2, "levels 1 and 2, once each, however many threads ask"
        assert slide.cached_tile(2, 0, 0) is not None
    # Independent reference: integer 2 x 2 means with rounding, odd edges replicated.
    expected = base.astype(np.int64)
    for _ in range(2):
        h, w = expected.shape[:2]
        padded = np.pad(expected, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        expected = (
            padded[0::2, 0::2] + padded[1::2, 0::2] + padded[0::2, 1::2] + padded[1::2, 1::2] + 2
        ) // 4
    for pixels in reads:
        np.testing.assert_array_equal(pixels, expected.astype(np.uint8))


def test_image_tiles_do_not_fill_the_shared_cache(tmp_path: Path) -> None:
    from tilescope.engine.slide import TileCache

    path = synthetic.write_pillow(tmp_path / "p.png", synthetic.pattern(1100, 1100, 3))
    cache = TileCache(64 << 20)
    with open_slide(path, cache=cache) as slide:
        slide.read_region(RegionRequest(0, 0, 1100, 1100))
        slide.read_region(RegionRequest(0, 0, 1100, 1100, 4))
    assert len(cache) == 0, "the decoded image is in memory already"


def test_tiles_cannot_change_the_image(tmp_path: Path) -> None:
    path = synthetic.write_pillow(tmp_path / "p.png", RGB)
    with open_slide(path) as slide:
        tile = slide.read_tile(0, 0, 0)
        with pytest.raises(ValueError):
            tile[0, 0, 0] = 1
        region = slide.read_region(RegionRequest(0, 0, 10, 10))
        region[:] = 0  # a region is the caller's own copy
        np.testing.assert_array_equal(slide.read_region(RegionRequest(0, 0, 10, 10)), RGB[:10, :10])
