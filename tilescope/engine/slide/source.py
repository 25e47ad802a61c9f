"""The `SlideSource` base every backend implements, and the generic region reader.

A backend only has to say what the file is (`_load_metadata`) and read native pixels of one
level (`_read_level`). Tiling, caching and resampling to any downsample live here, once.
"""

from __future__ import annotations

import itertools
import math
import threading
from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path
from types import TracebackType

import numpy as np

from tilescope.engine.budget import check_allocation
from tilescope.engine.errors import TilescopeError
from tilescope.engine.slide.errors import SlideError
from tilescope.engine.slide.metadata import SlideMetadata
from tilescope.engine.slide.region import RegionRequest
from tilescope.engine.slide.resample import resize_array
from tilescope.engine.slide.tile_cache import TileCache, shared_tile_cache

DEFAULT_TILE_SIZE = 512
#: Allocations from this size up are checked against the memory budget first (smaller ones
#: are tiles: checking each would cost more than the read).
CHECKED_BYTES = 64 << 20
_source_ids = itertools.count()


class SlideSource(ABC):
    """An open slide (one scene of it). Thread-safe: reads may come from any thread."""

    #: Short backend name, e.g. "openslide", "tifffile", "zarr", "image".
    backend_name: str = "?"

    def __init__(self, path: str | Path, scene: int = 0, cache: TileCache | None = None) -> None:
        self.path = Path(path)
        self.scene = scene
        self._cache = cache if cache is not None else shared_tile_cache()
        # Unique per open handle so that two opens of one file never share stale tiles.
        self.cache_id = next(_source_ids)
        self._closed = False
        self._close_lock = threading.Lock()

    # -- what a backend implements -------------------------------------------------------
    @abstractmethod
    def _load_metadata(self) -> SlideMetadata:
        """Read the file's geometry and properties (called once, lazily)."""

    @abstractmethod
    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        """Native pixels of `level` in level coordinates, H x W x C.

        The rectangle lies inside the level (callers clip). Must be safe to call from
        several threads at once.
        """

    def tile_size(self, level: int) -> tuple[int, int]:
        """The grid in which tiles of `level` are read and cached: the file's own if it has one."""
        return (DEFAULT_TILE_SIZE, DEFAULT_TILE_SIZE)

    def associated_image(self, name: str) -> np.ndarray:
        """An associated image (label, macro, thumbnail) as RGB uint8."""
        raise SlideError(self.path, f"no associated image named {name!r}")

    def _close(self) -> None:  # noqa: B027 - most backends have nothing to release
        """Release file handles."""

    # -- public API ----------------------------------------------------------------------
    @cached_property
    def metadata(self) -> SlideMetadata:
        return self._load_metadata()

    @property
    def background(self) -> int:
        """Fill value outside the image: white for brightfield RGB, zero otherwise."""
        return 255 if self.metadata.is_rgb else 0

    def tile_grid(self, level: int) -> tuple[int, int]:
        """Number of tile columns and rows at `level`."""
        lv = self.metadata.levels[level]
        tw, th = self.tile_size(level)
        return (math.ceil(lv.width / tw), math.ceil(lv.height / th))

    def read_tile(self, level: int, col: int, row: int) -> np.ndarray:
        """One tile of the level grid, through the shared cache. Edge tiles are cropped."""
        self._check_open()
        key = (self.cache_id, level, col, row)
        return self._cache.get_or_load(key, lambda: self._read_tile_uncached(level, col, row))

    def cached_tile(self, level: int, col: int, row: int) -> np.ndarray | None:
        """The tile if it is already in the cache (for painting without I/O), else None."""
        return self._cache.peek((self.cache_id, level, col, row))

    def _read_tile_uncached(self, level: int, col: int, row: int) -> np.ndarray:
        lv = self.metadata.levels[level]
        tw, th = self.tile_size(level)
        x, y = col * tw, row * th
        if not (0 <= x < lv.width and 0 <= y < lv.height):
            raise SlideError(self.path, f"tile ({col}, {row}) lies outside level {level}")
        return self._read_level_checked(level, x, y, min(tw, lv.width - x), min(th, lv.height - y))

    def _read_level_checked(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        try:
            pixels = self._read_level(level, x, y, w, h)
        except TilescopeError:  # SlideError, BudgetError: already one line naming the file
            raise
        except Exception as error:  # a decoder failure must name the file, not crash the app
            raise SlideError(
                self.path, f"cannot read level {level} at ({x}, {y}) size {w}x{h}: {error}"
            ) from error
        if pixels.shape[:2] != (h, w):
            raise SlideError(
                self.path, f"reader returned {pixels.shape[:2]} for a {h}x{w} read at level {level}"
            )
        return pixels

    def read_level_region(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        """Pixels of `level` in level coordinates; outside the image is background.

        Assembled from cached tiles, so repeated and overlapping reads decode nothing twice.
        """
        self._check_open()
        meta = self.metadata
        lv = meta.levels[level]
        check_large(
            width * height * meta.channels * np.dtype(meta.dtype).itemsize,
            f"{self.path}: a {width} x {height} region of level {level}",
        )
        out = np.full((height, width, meta.channels), self.background, dtype=np.dtype(meta.dtype))
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + width, lv.width), min(y + height, lv.height)
        if x0 >= x1 or y0 >= y1:
            return out
        tw, th = self.tile_size(level)
        for row in range(y0 // th, (y1 - 1) // th + 1):
            for col in range(x0 // tw, (x1 - 1) // tw + 1):
                tile = self.read_tile(level, col, row)
                tx, ty = col * tw, row * th
                sx0, sy0 = max(x0, tx), max(y0, ty)
                sx1, sy1 = min(x1, tx + tile.shape[1]), min(y1, ty + tile.shape[0])
                out[sy0 - y : sy1 - y, sx0 - x : sx1 - x] = tile[
                    sy0 - ty : sy1 - ty, sx0 - tx : sx1 - tx
                ]
        return out

    def read_region(self, request: RegionRequest) -> np.ndarray:
        """Pixels of a level-0 rectangle at any downsample, H x W x C.

        Reads the finest level at or below the requested downsample and resamples from it;
        at a level's own downsample with aligned coordinates no resampling happens.
        """
        meta = self.metadata
        out_w, out_h = request.output_size
        level = meta.best_level_for_downsample(request.downsample)
        ds = meta.levels[level].downsample
        lx0, ly0 = request.x / ds, request.y / ds
        lx1, ly1 = (request.x + request.width) / ds, (request.y + request.height) / ds
        scale = request.downsample / ds
        # Level pixel positions given as level-0 floats (x * ds) come back a rounding error
        # away from the integer: still aligned, read without resampling.
        aligned = (
            abs(scale - 1) < 1e-9
            and _near_integer(lx0)
            and _near_integer(ly0)
            and (round(lx1 - lx0), round(ly1 - ly0)) == (out_w, out_h)
        )
        if aligned:
            return self.read_level_region(level, round(lx0), round(ly0), out_w, out_h)
        ix0, iy0 = math.floor(lx0), math.floor(ly0)
        ix1, iy1 = max(math.ceil(lx1), ix0 + 1), max(math.ceil(ly1), iy0 + 1)
        pixel_bytes = meta.channels * np.dtype(meta.dtype).itemsize
        check_large(
            ((ix1 - ix0) * (iy1 - iy0) + out_w * out_h) * pixel_bytes,
            f"{self.path}: a {out_w} x {out_h} region at downsample {request.downsample:g}",
        )
        source = self.read_level_region(level, ix0, iy0, ix1 - ix0, iy1 - iy0)
        box = (lx0 - ix0, ly0 - iy0, lx1 - ix0, ly1 - iy0)
        return resize_array(source, (out_w, out_h), box)

    def thumbnail(self, max_size: int = 1024) -> np.ndarray:
        """The whole image fitted in `max_size` x `max_size`."""
        meta = self.metadata
        downsample = max(meta.width, meta.height) / max_size
        return self.read_region(RegionRequest(0, 0, meta.width, meta.height, max(downsample, 1.0)))

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        cache_id = self.cache_id
        self._cache.drop(lambda key: isinstance(key, tuple) and key[0] == cache_id)
        self._close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise SlideError(self.path, "slide is closed")

    def __enter__(self) -> SlideSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, scene={self.scene})"


def check_large(nbytes: float, what: str) -> None:
    """`check_allocation` for allocations of `CHECKED_BYTES` and more."""
    if nbytes >= CHECKED_BYTES:
        check_allocation(nbytes, what)


def _near_integer(value: float) -> bool:
    return abs(value - round(value)) < 1e-6
