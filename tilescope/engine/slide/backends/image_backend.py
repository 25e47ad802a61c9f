"""Plain images (PNG, JPEG, BMP, GIF, WebP) shown like slides.

The file is decoded once into memory (these formats cannot be read by region), turned the
way the camera meant it (EXIF orientation), and converted to RGB uint8, or kept as one
channel where it holds 16-bit or float data. Coarser levels are computed on demand, each once,
by averaging 2 x 2 blocks of the level above, so a 30,000-pixel scan zooms out smoothly.

The DPI in such files describes paper or a screen, not a microscope: mpp stays unknown.
Images above EAGER_DECODE_PIXELS are decoded only when their pixels are first needed (and
within the memory budget), so `tilescope info` of a 30,000-pixel scan reads just its header.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from tilescope.engine.slide.errors import SlideError
from tilescope.engine.slide.metadata import Level, SlideMetadata
from tilescope.engine.slide.opener import Backend
from tilescope.engine.slide.source import SlideSource
from tilescope.engine.slide.tile_cache import TileCache

EXTENSIONS = {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".gif", ".webp"}
#: The pyramid halves until the larger side is at most this.
SMALLEST_LEVEL = 512
#: Decoded bytes per pixel we budget for: Pillow's 4-byte buffer, our copy and the pyramid.
_BYTES_PER_PIXEL_BUDGET = 8
#: Up to this size an image is decoded when opened (a cut-off file is refused at once).
EAGER_DECODE_PIXELS = 32_000_000
#: (channels, dtype) of the array `_to_array` makes, by Pillow mode, known from the header.
#: Mode "I" is absent: its type depends on the values, so such images are decoded at open.
_HEADER_TYPES = {
    **{mode: (1, "uint16") for mode in ("I;16", "I;16L", "I;16B", "I;16N")},
    "F": (1, "float32"),
    **{m: (3, "uint8") for m in ("1", "L", "P", "RGB", "RGBA", "LA", "PA", "La", "RGBa")},
    **{m: (3, "uint8") for m in ("CMYK", "YCbCr", "LAB", "HSV")},
}
_HALVE_BAND_ROWS = 1024  # even, so that bands pair up rows exactly

# Pillow's decompression-bomb check guards against small files that claim huge sizes. For a
# file the user chose we switch it off while opening (a process-wide setting, hence the lock)
# and apply our own limit, which follows the machine's memory and gives a clear message.
# Pillow's "load truncated images" switch, which some libraries turn on, is forced off so
# that a cut-off file is an error rather than an image with a grey bottom half.
_pillow_limit_lock = threading.Lock()


def max_pixels() -> int:
    """The largest image we decode: what fits in the memory budget at our per-pixel budget."""
    from tilescope.engine.budget import memory_budget

    return int(memory_budget() // _BYTES_PER_PIXEL_BUDGET)


@contextlib.contextmanager
def _our_size_limit_instead_of_pillows() -> Iterator[None]:
    with _pillow_limit_lock:
        previous = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = None, False
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = previous


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray | None  # H x W x C, upright; None when only the header was read
    format: str  # e.g. "png", "jpeg"
    frames: int
    dpi: tuple[float, float] | None  # of the paper or screen, never a microscope's mpp
    size: tuple[int, int] = (0, 0)  # upright (width, height)
    mode: str = ""  # Pillow's mode of the frame


def decode_image(path: Path, frame: int = 0, header_only: bool = False) -> DecodedImage:
    """One frame of an image file, decoded completely (or, `header_only`, just described).

    Raises `SlideError` for anything that is not a complete, decodable image.
    """
    limit = max_pixels()
    try:
        with _our_size_limit_instead_of_pillows(), Image.open(path) as image:
            format_name = (image.format or path.suffix.lstrip(".")).lower()
            frames = int(getattr(image, "n_frames", 1))
            if not 0 <= frame < frames:
                raise SlideError(
                    path, f"scene {frame} does not exist (the image has {frames} frames)"
                )
            width, height = image.size
            if header_only:
                if frame:
                    image.seek(frame)
                turned = image.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF: quarter turn
                size = (height, width) if turned else (width, height)
                dpi = _dpi(image.info.get("dpi"))
                return DecodedImage(None, format_name, frames, dpi, size, image.mode)
            if width * height > limit:
                raise SlideError(
                    path,
                    f"image is {width} x {height} pixels, too large to decode in memory "
                    f"(limit {limit / 1e6:.0f} megapixels); convert it to a tiled pyramidal TIFF",
                )
            if frame:
                image.seek(frame)
            image.load()
            dpi = _dpi(image.info.get("dpi"))
            upright = ImageOps.exif_transpose(image)
            pixels = _to_array(upright)
    except SlideError:
        raise
    except UnidentifiedImageError as error:
        raise SlideError(path, "not an image Pillow can identify") from error
    except Image.DecompressionBombError as error:
        raise SlideError(path, f"image is too large to decode in memory ({error})") from error
    except PermissionError as error:
        raise SlideError(path, "permission denied: cannot read the file") from error
    except MemoryError as error:
        raise SlideError(path, "not enough memory to decode the image") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        # Pillow reports truncated or corrupt data as OSError/SyntaxError: never keep half.
        raise SlideError(path, f"cannot decode the image: {error}") from error
    height, width = pixels.shape[:2]
    return DecodedImage(pixels, format_name, frames, dpi, (width, height), upright.mode)


def _dpi(value: Any) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _to_array(image: Image.Image) -> np.ndarray:
    """8-bit anything -> RGB uint8 (transparency over white); 16-bit/float gray -> 1 channel."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image).astype(np.uint16)[:, :, np.newaxis]
    if mode == "I":
        values = np.asarray(image)
        # PNG stores 16-bit gray as mode "I"; keep it 16-bit when the values fit.
        if values.size and values.min() >= 0 and values.max() <= 0xFFFF:
            return values.astype(np.uint16)[:, :, np.newaxis]
        return values.astype(np.int32)[:, :, np.newaxis]
    if mode == "F":
        return np.asarray(image, dtype=np.float32)[:, :, np.newaxis]
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"))
        return _over_white(rgba)
    if mode != "RGB":
        image = image.convert("RGB")
    return np.array(image, dtype=np.uint8)


def _over_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[:, :, 3:4].astype(np.uint16)
    rgb = (rgba[:, :, :3].astype(np.uint16) * alpha + 255 * (255 - alpha) + 127) // 255
    return rgb.astype(np.uint8)


def halve(pixels: np.ndarray) -> np.ndarray:
    """Average 2 x 2 blocks; an odd last row/column averages only the pixels that exist.

    Works in bands of rows with the narrowest sum type, so that halving a 100-megapixel scan
    needs little memory beyond its result.
    """
    h, w, channels = pixels.shape
    out = np.empty(((h + 1) // 2, (w + 1) // 2, channels), dtype=pixels.dtype)
    wide = _sum_type(pixels.dtype)
    for top in range(0, h, _HALVE_BAND_ROWS):
        band = pixels[top : top + _HALVE_BAND_ROWS]
        bh = band.shape[0]
        if bh % 2 or w % 2:  # replicate the edge: the mean of a pixel and itself is the pixel
            band = np.pad(band, ((0, bh % 2), (0, w % 2), (0, 0)), mode="edge")
        total = band[0::2, 0::2].astype(wide)
        total += band[1::2, 0::2]
        total += band[0::2, 1::2]
        total += band[1::2, 1::2]
        rows = slice(top // 2, top // 2 + total.shape[0])
        if pixels.dtype.kind == "f":
            out[rows] = total / 4
        else:
            total += 2  # round half up
            total //= 4
            out[rows] = total
    return out


def _sum_type(dtype: np.dtype) -> type[np.generic]:
    """A type that holds the sum of four values of `dtype` without overflow."""
    if dtype.kind == "f":
        return np.float64
    wider = {1: 2, 2: 4, 4: 8}.get(dtype.itemsize, 8)
    return np.dtype(f"{'u' if dtype.kind in 'ub' else 'i'}{wider}").type


def pyramid_shapes(width: int, height: int) -> list[tuple[int, int]]:
    """(width, height) per level, halving (rounding up) until the larger side fits."""
    shapes = [(width, height)]
    while max(shapes[-1]) > SMALLEST_LEVEL:
        w, h = shapes[-1]
        shapes.append(((w + 1) // 2, (h + 1) // 2))
    return shapes


class ImageSource(SlideSource):
    backend_name = "image"

    def __init__(self, path: Path, scene: int = 0, cache: TileCache | None = None) -> None:
        super().__init__(path, scene, cache)
        header = decode_image(self.path, scene, header_only=True)
        self._format, self._frames, self._dpi = header.format, header.frames, header.dpi
        self._header = header
        self._levels: list[np.ndarray | None] = [None] * len(pyramid_shapes(*header.size))
        self._level_lock = threading.Lock()
        width, height = header.size
        if width * height <= EAGER_DECODE_PIXELS or header.mode not in _HEADER_TYPES:
            self._decode_level0()

    def _decode_level0(self) -> np.ndarray:
        """Decode the file into level 0 (once; callers hold the lock or are the constructor)."""
        full = decode_image(self.path, self.scene).pixels
        assert full is not None
        full.setflags(write=False)  # tiles are views of it: nobody may change them
        self._levels[0] = full
        return full

    def _load_metadata(self) -> SlideMetadata:
        full = self._levels[0]
        if full is not None:
            height, width, channels = full.shape
            dtype = full.dtype
        else:  # not decoded yet: the header says what the pixels will be
            width, height = self._header.size
            channels, dtype_name = _HEADER_TYPES[self._header.mode]
            dtype = np.dtype(dtype_name)
        is_rgb = channels == 3 and dtype == np.uint8
        return SlideMetadata(
            format=self._format,
            levels=tuple(
                Level(w, h, float(2**i)) for i, (w, h) in enumerate(pyramid_shapes(width, height))
            ),
            mpp=None,
            channels=channels,
            channel_names=("R", "G", "B") if is_rgb else ("L",),
            dtype=dtype.name,
            is_rgb=is_rgb,
            scene_count=self._frames,
            properties=self._properties(),
        )

    def _properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {"image.format": self._format, "image.frames": self._frames}
        if self._dpi is not None:
            props["image.dpi"] = self._dpi
        return props

    def _level(self, index: int) -> np.ndarray:
        """The pixels of a level, computed from the level above the first time it is needed."""
        if self._closed:
            raise SlideError(self.path, "slide is closed")
        pixels = self._levels[index]
        if pixels is not None:
            return pixels
        with self._level_lock:
            if self._levels[0] is None:
                self._decode_level0()
            for i in range(1, index + 1):
                if self._levels[i] is None:
                    above = self._levels[i - 1]
                    assert above is not None
                    level = halve(above)
                    level.setflags(write=False)
                    self._levels[i] = level
            pixels = self._levels[index]
        assert pixels is not None
        return pixels

    def read_tile(self, level: int, col: int, row: int) -> np.ndarray:
        # Everything is in memory already: caching would only push other slides' tiles out.
        self._check_open()
        return self._read_tile_uncached(level, col, row)

    def cached_tile(self, level: int, col: int, row: int) -> np.ndarray | None:
        if self._closed or self._levels[level] is None:
            return None
        return self.read_tile(level, col, row)

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        return self._level(level)[y : y + height, x : x + width]

    def _close(self) -> None:
        self._levels = [None] * len(self._levels)


def probe(path: Path) -> float:
    return 0.6 if path.suffix.lower() in EXTENSIONS and not path.is_dir() else 0.0


def _open(path: Path, scene: int, cache: TileCache | None) -> SlideSource:
    return ImageSource(path, scene, cache)


BACKEND = Backend(name="image", probe=probe, open=_open)
