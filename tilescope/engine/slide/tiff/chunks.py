"""Reading and decoding the stored chunks (tiles or strips) of one TIFF page directly.

tifffile tells where each chunk lies and how it is compressed; the bytes are read with one
positioned read each (no shared file position, so any number of threads can read at once) and
decoded by imagecodecs (libjpeg-turbo, zlib, LZW, JPEG 2000, ...), which releases the GIL.

JPEG tiles decode to exactly OpenSlide's pixels: both use libjpeg-turbo (imagecodecs 3.1.3,
openslide-bin 3.1.4) with the library defaults (integer IDCT, fancy upsampling), the TIFF's
JPEGTables, and the colour space the TIFF declares (Aperio's "JPEG/RGB" tiles are not
converted from YCbCr), so no pixel differs, not even by one.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tilescope.engine.budget import check_allocation
from tilescope.engine.slide.errors import SlideError

MINISWHITE = 0
PALETTE = 3


def palette_rgb(page: Any) -> np.ndarray | None:
    """A palette page's colour map as an (entries, 3) uint8 table, else None.

    Like libtiff, a map whose values all fit in 8 bits is taken as 8-bit (some writers store
    it so), otherwise the 16-bit values are scaled down.
    """
    colormap = page.colormap if int(page.photometric) == PALETTE else None
    if colormap is None:
        return None
    table = np.asarray(colormap)
    table = table if table.max() < 256 else table >> 8
    return np.ascontiguousarray(table.T.astype(np.uint8))


#: Aperio's JPEG 2000 with YCbCr components that the codestream does not convert itself.
APERIO_JP2K_YCBCR = 33003


def _ycbcr_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """OpenSlide's YCbCr -> RGB chroma tables (libjpeg's constants, 16-bit fixed point).

    Red and blue: FIX(k) * (c - 128) rounded by a half; green: the two products rounded each,
    summed with a half, shifted. Derived by decoding every (Cb, Cr) pair at three Y values
    through OpenSlide: these tables give its pixels exactly (float formulas differ by one).
    """
    x = np.arange(256, dtype=np.int64) - 128
    red = (int(1.402 * 65536 + 0.5) * x + 32768) >> 16
    blue = (int(1.772 * 65536 + 0.5) * x + 32768) >> 16
    green_cb = np.round(-0.34414 * 65536 * x).astype(np.int64) + 32768
    green_cr = np.round(-0.71414 * 65536 * x).astype(np.int64)
    return red, green_cb, green_cr, blue


_RED_CR, _GREEN_CB, _GREEN_CR, _BLUE_CB = _ycbcr_tables()


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Full-range (JFIF) YCbCr to RGB uint8, with OpenSlide's integer tables (same pixels)."""
    y = ycbcr[..., 0].astype(np.int64)
    cb, cr = ycbcr[..., 1], ycbcr[..., 2]
    rgb = np.stack(
        [
            y + _RED_CR[cr],
            y + ((_GREEN_CB[cb] + _GREEN_CR[cr]) >> 16),
            y + _BLUE_CB[cb],
        ],
        axis=-1,
    )
    return np.clip(rgb, 0, 255).astype(np.uint8)


class ByteReader:
    """Positioned reads of one file that are safe from any thread.

    POSIX has `os.pread` on one shared descriptor; elsewhere each thread gets its own handle
    (a shared handle's seek-then-read would interleave between threads).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self._local = threading.local()
        self._handles: list[BinaryIO] = []
        self._lock = threading.Lock()

    def read(self, offset: int, length: int) -> bytes:
        if self._fd is None:
            raise SlideError(self.path, "slide is closed")
        if hasattr(os, "pread"):
            return os.pread(self._fd, length, offset)
        handle: BinaryIO | None = getattr(self._local, "handle", None)
        if handle is None:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed in close()
            self._local.handle = handle
            with self._lock:
                self._handles.append(handle)
        handle.seek(offset)
        return handle.read(length)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with self._lock:
            for handle in self._handles:
                handle.close()
            self._handles.clear()


#: Chunks from this size up are checked against the memory budget before decoding.
_CHECKED_BYTES = 64 << 20


def check_large(nbytes: int, what: str) -> None:
    if nbytes >= _CHECKED_BYTES:
        check_allocation(nbytes, what)


#: Keeps decoded chunks: `memo(key, load)` returns the cached chunk or stores `load()`.
ChunkMemo = Callable[[tuple[int, int], Callable[[], np.ndarray]], np.ndarray]


class ChunkedPage:
    """One TIFF page (IFD) read chunk by chunk: `read(x, y, w, h)` gives H x W x samples.

    Tiles at the right and bottom edge are stored padded to the full tile size; only the part
    inside the image is ever returned, which is also what OpenSlide shows.
    """

    def __init__(self, page: Any, reader: ByteReader, where: str) -> None:
        keyframe = page.keyframe
        self._reader = reader
        self._where = where
        #: Optional store of decoded chunks, for strips that several cache tiles cross.
        self.memo: ChunkMemo | None = None
        # `decode` is a cached property of the page that builds the decoder; build it now, on
        # one thread, so that the reading threads only ever call it.
        self._decode: Callable[..., Any] = keyframe.decode
        self._jpegtables: bytes | None = keyframe.jpegtables
        self._jpegheader: bytes | None = keyframe.jpegheader
        # numpy, not tuples of ints: a large slide has hundreds of thousands of tiles.
        self._offsets = np.asarray(page.dataoffsets, dtype=np.int64)
        self._counts = np.asarray(page.databytecounts, dtype=np.int64)
        self.width = int(keyframe.imagewidth)
        self.height = int(keyframe.imagelength)
        self.samples = int(keyframe.samplesperpixel)
        self.dtype = np.dtype(keyframe.dtype)
        self.compression = int(keyframe.compression)
        self.photometric = int(keyframe.photometric)
        self._palette = palette_rgb(keyframe)
        self.tiled = bool(keyframe.is_tiled)
        self.planar = int(keyframe.planarconfig) == 2
        if self.tiled:
            self.chunk_width = int(keyframe.tilewidth)
            self.chunk_height = int(keyframe.tilelength)
        else:
            self.chunk_width = self.width
            self.chunk_height = max(1, min(int(keyframe.rowsperstrip or self.height), self.height))
        # Uncompressed strips can be read row by row: no need to read a whole (maybe huge) strip.
        self._raw_rows = (
            not self.tiled
            and not self.planar
            and self.compression == 1
            and keyframe.bitspersample % 8 == 0
            and int(keyframe.predictor) == 1
        )
        self._stored_dtype = self.dtype.newbyteorder(keyframe.parent.byteorder)
        self.columns = math.ceil(self.width / self.chunk_width)
        self.rows = math.ceil(self.height / self.chunk_height)
        planes = self.samples if self.planar else 1
        if len(self._offsets) < self.columns * self.rows * planes:
            raise SlideError(
                reader.path,
                f"{where}: the file lists {len(self._offsets)} chunks, "
                f"{self.columns * self.rows * planes} expected",
            )

    def chunk(self, column: int, row: int) -> np.ndarray | None:
        """The chunk at (column, row) cropped to the image, or None where none is stored."""
        h = min(self.chunk_height, self.height - row * self.chunk_height)
        w = min(self.chunk_width, self.width - column * self.chunk_width)
        index = row * self.columns + column
        if not self.planar:
            return self._decode_chunk(index, column, row, h, w)
        per_plane = self.columns * self.rows
        planes = [
            self._decode_chunk(index + s * per_plane, column, row, h, w)
            for s in range(self.samples)
        ]
        if any(plane is None for plane in planes):
            return None
        return np.concatenate(planes, axis=2)  # type: ignore[arg-type]

    def _decode_chunk(self, index: int, column: int, row: int, h: int, w: int) -> np.ndarray | None:
        offset, count = int(self._offsets[index]), int(self._counts[index])
        if count == 0 or offset == 0:
            return None  # sparse file: nothing stored here, the caller fills background
        kind = "tile" if self.tiled else "strip"
        samples = 1 if self.planar else self.samples
        check_large(
            self.chunk_width * self.chunk_height * samples * self.dtype.itemsize + count,
            f"{self._reader.path}: decoding a {self.chunk_width} x {self.chunk_height} {kind}",
        )
        data = self._reader.read(offset, count)
        if len(data) != count:
            raise self._corrupt(column, row, f"file ends {count - len(data)} bytes early")
        try:
            segment, _, shape = self._decode(
                data, index, jpegtables=self._jpegtables, jpegheader=self._jpegheader
            )
        except Exception as error:  # each codec raises its own error type
            raise self._corrupt(column, row, str(error) or type(error).__name__) from error
        if segment is None:
            return None
        pixels = np.asarray(segment).reshape(shape)[0]  # depth 1: (rows, cols, samples)
        if self.compression == APERIO_JP2K_YCBCR:
            pixels = ycbcr_to_rgb(pixels)
        if pixels.shape[0] < h or pixels.shape[1] < w:
            raise self._corrupt(column, row, f"decoded {pixels.shape[:2]}, expected ({h}, {w})")
        return pixels[:h, :w]

    def _chunk_memo(self, column: int, row: int) -> np.ndarray | None:
        """A chunk, through the memo when there is one (wide strips are read by many tiles)."""
        if self.memo is None:
            return self.chunk(column, row)
        missing = np.empty((0, 0, self.samples), self.dtype)
        pixels = self.memo((column, row), lambda: _or(self.chunk(column, row), missing))
        return None if pixels.size == 0 else pixels

    def _raw(self, strip: int, y0: int, y1: int) -> np.ndarray:
        """Rows y0..y1 (image rows within `strip`) of uncompressed strip data."""
        row_bytes = self.width * self.samples * self._stored_dtype.itemsize
        first = strip * self.chunk_height
        offset = int(self._offsets[strip]) + (y0 - first) * row_bytes
        length = (y1 - y0) * row_bytes
        if self._counts[strip] < (y1 - first) * row_bytes:
            raise self._corrupt(0, strip, "strip holds fewer bytes than its rows need")
        data = self._reader.read(offset, length)
        if len(data) != length:
            raise self._corrupt(0, strip, f"file ends {length - len(data)} bytes early")
        rows = np.frombuffer(data, self._stored_dtype).reshape(y1 - y0, self.width, self.samples)
        return rows.astype(self.dtype, copy=False)

    def _corrupt(self, column: int, row: int, why: str) -> SlideError:
        kind = "tile" if self.tiled else "strip"
        place = f"({column}, {row})" if self.tiled else f"{row}"
        return SlideError(self._reader.path, f"{self._where}: {kind} {place} is corrupt: {why}")

    def read(self, x: int, y: int, width: int, height: int, fill: int | float) -> np.ndarray:
        """Pixels of the rectangle, which lies inside the page; missing chunks are `fill`.

        Palette images come out as RGB and min-is-white ones inverted, as libtiff (and so
        OpenSlide) shows them.
        """
        stored = self._read_stored(x, y, width, height, fill)
        if self._palette is not None:
            return self._palette[stored[:, :, 0]]
        if self.photometric == MINISWHITE and self.dtype.kind == "u":
            return np.iinfo(self.dtype).max - stored
        return stored

    def _read_stored(self, x: int, y: int, width: int, height: int, fill: float) -> np.ndarray:
        out = np.empty((height, width, self.samples), dtype=self.dtype)
        cw, ch = self.chunk_width, self.chunk_height
        for row in range(y // ch, (y + height - 1) // ch + 1):
            for column in range(x // cw, (x + width - 1) // cw + 1):
                cx, cy = column * cw, row * ch
                sx0, sy0 = max(x, cx), max(y, cy)
                sx1, sy1 = (
                    min(x + width, cx + cw, self.width),
                    min(y + height, cy + ch, self.height),
                )
                target = out[sy0 - y : sy1 - y, sx0 - x : sx1 - x]
                if self._raw_rows:
                    target[...] = self._raw(row, sy0, sy1)[:, sx0:sx1]
                    continue
                pixels = self._chunk_memo(column, row)
                if pixels is None:
                    target[...] = fill
                else:
                    target[...] = pixels[sy0 - cy : sy1 - cy, sx0 - cx : sx1 - cx]
        return out


def _or(pixels: np.ndarray | None, missing: np.ndarray) -> np.ndarray:
    return missing if pixels is None else pixels
