"""A large JPEG-tiled pyramidal TIFF written tile by tile (never held in memory whole)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

TILE = 256


def _texture(size: int = 1024, seed: int = 0) -> np.ndarray:
    """A `size` x `size` H&E-like texture: pink stroma with purple nuclei-sized blobs and
    fine grain, so that JPEG tiles compress (and decode) like real tissue."""
    rng = np.random.default_rng(seed)

    def smooth(cells: int) -> np.ndarray:
        coarse = rng.random((cells + 1, cells + 1))
        step = size // cells
        ramp = np.arange(size) % step / step
        index = np.arange(size) // step
        rows = coarse[index] * (1 - ramp)[:, None] + coarse[index + 1] * ramp[:, None]
        return rows[:, index] * (1 - ramp) + rows[:, index + 1] * ramp

    stroma = smooth(8)
    nuclei = np.clip((smooth(128) - 0.62) * 6, 0, 1)
    grain = rng.normal(0, 0.04, (size, size))
    pink = np.array([236, 170, 200], np.float64)
    purple = np.array([90, 60, 150], np.float64)
    colour = pink * (0.8 + 0.2 * stroma[..., None]) * (1 - nuclei[..., None])
    colour += purple * nuclei[..., None]
    colour *= 1 + grain[..., None]
    return np.clip(colour, 0, 255).astype(np.uint8)


def _tiles(texture: np.ndarray, width: int, height: int, shift: int) -> Iterator[np.ndarray]:
    """Row-major tiles; each is a different crop of the texture so no two compress alike."""
    size = texture.shape[0]
    doubled = np.concatenate([texture, texture], axis=0)
    doubled = np.concatenate([doubled, doubled], axis=1)
    for row in range(-(-height // TILE)):
        for column in range(-(-width // TILE)):
            y = (row * TILE + column * 37 + shift) % size
            x = (column * TILE + row * 53 + shift) % size
            yield doubled[y : y + TILE, x : x + TILE]


def write_pyramid(path: Path, size: int = 16384, levels: int = 5, quality: int = 85) -> Path:
    """`size` x `size` RGB, JPEG (YCbCr 4:2:0) tiles of 256 px, levels halving in the main IFD
    chain (reduced pages), the layout OpenSlide reads as generic-tiff."""
    texture = _texture()
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for level in range(levels):
            side = size >> level
            tif.write(
                _tiles(texture, side, side, shift=level * 101),
                shape=(side, side, 3),
                dtype=np.uint8,
                tile=(TILE, TILE),
                photometric="rgb",
                compression="jpeg",
                compressionargs={"level": quality},
                subfiletype=1 if level else 0,
                resolution=(40000.0, 40000.0),
                resolutionunit="CENTIMETER",
            )
    return path
