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
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from tilescope.engine.budget import check_allocation
from tilescope.engine.errors import BudgetError
from tilescope.engine.slide.errors import SlideError
from tilescope.engine.slide.metadata import Level, SlideMetadata
from tilescope.engine.slide.opener import Backend
from tilescope.engine.slide.source import SlideSource
from tilescope.engine.slide.tile_cache import TileCache

EXTENSIONS = {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".gif", ".webp"}
#: The pyramid halves until the larger side is at most this.
SMALLEST_LEVEL = 512
_HALVE_BAND_ROWS = 1024  # even, so that bands pair up rows exactly
#: Bytes per pixel of Pillow's own decode buffer, by mode (RGB is stored in 4 bytes).
_PILLOW_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
#: EXIF orientations that turn the image by 90 degrees (width and height swap).
_TRANSPOSED = {5, 6, 7, 8}

# Pillow's decompression-bomb check guards against small files that claim huge sizes. For a
# file the user chose we switch it off while opening (a process-wide setting, hence the lock)
# and check the memory budget instead, which follows the machine and gives a clear message.
# Pillow's "load truncated images" switch, which some libraries turn on, is forced off so
# that a cut-off file is an error rather than an image with a grey bottom half.
_pillow_limit_lock = threading.Lock()


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
class ImageHeader:
    """What an image file says before any pixel is decoded."""

    width: int  # upright (after EXIF orientation)
    height: int
    mode: str  # Pillow's mode of the stored pixels
    format: str  # e.g. "png", "jpeg"
    frames: int
    dpi: tuple[float, float] | None  # of the paper or screen, never a microscope's mpp
    orientation: int = 1  # EXIF orientation read from the header (1 = as stored)

    @property
    def channels(self) -> int:
        return 1 if self.mode.startswith("I") or self.mode == "F" else 3

    @property
    def dtype(self) -> np.dtype[Any]:
        if self.mode.startswith("I;16"):
            return np.dtype(np.uint16)
        return np.dtype({"I": np.int32, "F": np.float32}.get(self.mode, np.uint8))

    def decode_bytes(self) -> int:
        """Memory a decode takes at its peak: Pillow's buffer, our array and its pyramid."""
        pixels = self.width * self.height
        ours = pixels * self.channels * self.dtype.itemsize
        return pixels * _PILLOW_BYTES.get(self.mode, 4) + ours + ours // 3


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # H x W x C, upright
    format: str  # e.g. "png", "jpeg"
    frames: int
    dpi: tuple[float, float] | None  # of the paper or screen, never a microscope's mpp


@contextlib.contextmanager
def _pillow_errors(path: Path) -> Iterator[None]:
    """Pillow's many error types as one `SlideError` naming the file and the cause."""
    try:
        yield
    except (SlideError, BudgetError):
        raise
    except UnidentifiedImageError as error:
        raise SlideError(path, "not an image Pillow can identify") from error
    except Image.DecompressionBombError as error:
        raise SlideError(path, f"image is too large to decode in memory ({error})") from error
    except PermissionError as error:
        raise SlideError(path, "permission denied: cannot read the file") from error
    except MemoryError as error:
        raise SlideError(path, "not enough memory to decode the image") from error
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as error:
        # Pillow reports truncated or corrupt data as OSError/SyntaxError: never keep half.
        raise SlideError(path, f"cannot decode the image: {error}") from error


def read_header(path: Path, frame: int = 0) -> ImageHeader:
    """Size, mode, frames and orientation of one frame, decoding no pixels.

    PNG files are also verified (every chunk's checksum, IDAT included, without inflating
    it), so a cut-off PNG is refused at open; other formats show corruption on first read.
    """
    with _pillow_errors(path), _our_size_limit_instead_of_pillows(), Image.open(path) as image:
        format_name = (image.format or path.suffix.lstrip(".")).lower()
        frames = int(getattr(image, "n_frames", 1))
        if not 0 <= frame < frames:
            raise SlideError(path, f"scene {frame} does not exist (the image has {frames} frames)")
        if frame:
            image.seek(frame)
        width, height = image.size
        if width <= 0 or height <= 0:
            raise SlideError(path, f"image has no pixels ({width} x {height})")
        orientation = _orientation(image, format_name)
        if orientation in _TRANSPOSED:
            width, height = height, width
        mode = image.mode
        dpi = _dpi(image.info.get("dpi"))
    if format_name == "png":
        with _pillow_errors(path), _our_size_limit_instead_of_pillows(), Image.open(path) as fresh:
            fresh.verify()  # must come straight after open
    return ImageHeader(width, height, mode, format_name, frames, dpi, orientation)


def decode_image(path: Path, frame: int = 0, header: ImageHeader | None = None) -> DecodedImage:
    """One frame of an image file, decoded completely, within the memory budget.

    Raises `BudgetError` before decoding when the image would not fit, `SlideError` for
    anything that is not a complete, decodable image.
    """
    header = header or read_header(path, frame)
    check_allocation(
        header.decode_bytes(), f"{path}: decoding the {header.width} x {header.height} image"
    )
    with _pillow_errors(path), _our_size_limit_instead_of_pillows(), Image.open(path) as image:
        if frame:
            image.seek(frame)
        image.load()
        turn = _TURNS.get(header.orientation)
        pixels = _to_array(image.transpose(turn) if turn is not None else image)
    if pixels.shape[:2] != (header.height, header.width):
        raise SlideError(
            path,
            f"decoded {pixels.shape[1]} x {pixels.shape[0]} pixels, the header says "
            f"{header.width} x {header.height}",
        )
    return DecodedImage(pixels, header.format, header.frames, header.dpi)


#: EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orientation(image: Image.Image, format_name: str) -> int:
    """The EXIF orientation, from the header only: Pillow's PNG `getexif()` decodes the whole
    image to look for an eXIf chunk after the pixels, so for PNG only one before them counts."""
    if format_name == "png":
        raw = image.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
    else:
        exif = image.getexif()
    value = exif.get(0x0112)
    return int(value) if isinstance(value, int) and value in _TURNS else 1


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
    if mode == "I":  # 32-bit integers (Pillow opens 16-bit PNG as I;16)
        return np.asarray(image).astype(np.int32)[:, :, np.newaxis]
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
        self._header = read_header(self.path, scene)
        self._format, self._frames, self._dpi = (
            self._header.format,
            self._header.frames,
            self._header.dpi,
        )
        shapes = pyramid_shapes(self._header.width, self._header.height)
        self._levels: list[np.ndarray | None] = [None] * len(shapes)
        self._level_lock = threading.Lock()

    def _load_metadata(self) -> SlideMetadata:
        header = self._header
        is_rgb = header.channels == 3
        return SlideMetadata(
            format=self._format,
            levels=tuple(
                Level(w, h, float(2**i))
                for i, (w, h) in enumerate(pyramid_shapes(header.width, header.height))
            ),
            mpp=None,
            channels=header.channels,
            channel_names=("R", "G", "B") if is_rgb else ("L",),
            dtype=header.dtype.name,
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
        """The pixels of a level: the file is decoded on the first read, coarser levels are
        computed from the level above the first time they are needed."""
        if self._closed:
            raise SlideError(self.path, "slide is closed")
        pixels = self._levels[index]
        if pixels is not None:
            return pixels
        with self._level_lock:
            if self._levels[0] is None:
                full = decode_image(self.path, self.scene, self._header).pixels
                full.setflags(write=False)  # tiles are views of it: nobody may change them
                self._levels[0] = full
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
