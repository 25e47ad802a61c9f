"""Hostile inputs, generated where a test needs them (nothing large is committed).

Each builder writes one file (or folder) under a given folder and returns its path. The huge
PNG is 875 KB on disk and claims 30,000 x 30,000 pixels: it is written row by row through
zlib, so making it costs no memory either.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def huge_gray_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A valid 8-bit greyscale PNG of zeros, tiny on disk, huge when decoded."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte 0, then the row
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    with open(path, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        out.write(_chunk(b"IDAT", b"".join(parts)))
        out.write(_chunk(b"IEND", b""))
    return path


def empty_svs(folder: Path) -> Path:
    path = folder / "empty.svs"
    path.write_bytes(b"")
    return path


def random_svs(folder: Path) -> Path:
    path = folder / "noise.svs"
    path.write_bytes(np.random.default_rng(0).bytes(30_000))
    return path


def fake_tiff(folder: Path) -> Path:
    path = folder / "fake.tif"
    path.write_bytes(b"II*\x00" + np.random.default_rng(1).bytes(30_000))
    return path


def truncated_png(folder: Path) -> Path:
    from PIL import Image

    path = folder / "cut.png"
    pixels = np.random.default_rng(2).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def folder_as_slide(folder: Path) -> Path:
    path = folder / "not-a-slide.svs"
    path.mkdir()
    return path


def fifo_slide(folder: Path) -> Path:
    path = folder / "pipe.svs"
    os.mkfifo(path)
    return path


def missing_slide(folder: Path) -> Path:
    return folder / "missing.svs"


def undecodable_name(folder: Path) -> Path:
    """A corrupt file whose name is not UTF-8 (bytes 0xff): messages and the log must cope."""
    path = folder / os.fsdecode(b"\xff-noise.svs")
    path.write_bytes(np.random.default_rng(3).bytes(4096))
    return path


def nan_geojson(folder: Path) -> Path:
    path = folder / "nan.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
        '"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [NaN, 1], [1, 1], [0, 0]]]}}]}'
    )
    return path


def truncated_geojson(folder: Path) -> Path:
    path = folder / "cut.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [{"type": "Fea')
    return path


#: Bad slides every slide-reading command must refuse in one line.
BAD_SLIDES: dict[str, Callable[[Path], Path]] = {
    "missing": missing_slide,
    "empty": empty_svs,
    "random bytes": random_svs,
    "tiff header then noise": fake_tiff,
    "truncated png": truncated_png,
    "folder": folder_as_slide,
    "fifo": fifo_slide,
    "name not UTF-8": undecodable_name,
}

#: Bad annotation files the annotation commands must refuse in one line.
BAD_ANNOTATIONS: dict[str, Callable[[Path], Path]] = {
    "missing": lambda folder: folder / "missing.geojson",
    "truncated json": truncated_geojson,
    "NaN coordinate": nan_geojson,
    "random bytes": lambda folder: random_svs(folder).rename(folder / "noise.geojson"),
}
