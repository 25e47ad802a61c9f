"""Synthetic test images: pixel patterns and real files (OME-Zarr, PNG, JPEG) written from them.

Every writer takes the pixels it writes, so a test knows the exact truth to compare with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def pattern(height: int, width: int, channels: int, dtype: str = "uint8", seed: int = 0) -> Any:
    """Smooth gradients and stripes plus mild noise: every region differs from its neighbours,
    yet area averages stay close to any other fair downsampling."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for c in range(channels):
        wave = np.sin(xx / (9 + 3 * c)) * np.cos(yy / (13 + 2 * c))
        ramp = (xx / width + (c + 1) * yy / height) % 1.0
        planes.append(0.45 * ramp + 0.4 * (wave + 1) / 2 + 0.05 * rng.random((height, width)))
    unit = np.stack(planes, axis=2)
    top = np.iinfo(dtype).max if np.dtype(dtype).kind in "ui" else 1.0
    return (unit * 0.9 * top).astype(dtype)


def halve(pixels: np.ndarray) -> np.ndarray:
    """2 x 2 block mean (edge rows/columns replicated), as a scanner would make a level."""
    h, w = pixels.shape[:2]
    padded = np.pad(pixels, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge").astype(np.float64)
    mean = (padded[0::2, 0::2] + padded[1::2, 0::2] + padded[0::2, 1::2] + padded[1::2, 1::2]) / 4
    return np.rint(mean).astype(pixels.dtype)


def pyramid(base: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [base]
    for _ in range(levels - 1):
        out.append(halve(out[-1]))
    return out


def _to_axes(pixels: np.ndarray, axes: str) -> np.ndarray:
    """H x W x C -> the array layout named by `axes` (t/z get length 1; no c: one channel)."""
    array, current = pixels, "yxc"
    if "c" not in axes:
        array, current = pixels[:, :, 0], "yx"
    for name in axes:
        if name not in current:
            array = array[..., np.newaxis]
            current += name
    return np.transpose(array, [current.index(name) for name in axes])


def write_ome_zarr(
    path: Path,
    levels: list[np.ndarray],
    *,
    version: str = "0.4",
    axes: str = "cyx",
    chunks: int = 256,
    pixel_size_um: float | None = 0.5,
    unit: str = "micrometer",
    channel_labels: list[str] | None = None,
    group: str = "",
    chunks_per_shard: int = 0,
) -> Path:
    """Write an NGFF multiscale image (0.4 -> zarr format 2, 0.5 -> zarr format 3)."""
    import zarr

    zarr_format = 2 if version == "0.4" else 3
    root = zarr.open_group(
        str(path / group) if group else str(path), mode="w", zarr_format=zarr_format
    )
    datasets = []
    for index, level in enumerate(levels):
        data = _to_axes(level, axes)
        chunk_shape = tuple(
            min(chunks, n) if name in "yx" else n if name == "c" else 1
            for name, n in zip(axes, data.shape, strict=True)
        )
        extra: dict[str, Any] = {}
        if zarr_format == 3:
            extra["dimension_names"] = list(axes)
            if chunks_per_shard:
                extra["shards"] = tuple(
                    n * chunks_per_shard if name in "yx" else n
                    for name, n in zip(axes, chunk_shape, strict=True)
                )
        array = root.create_array(
            name=str(index), shape=data.shape, dtype=data.dtype, chunks=chunk_shape, **extra
        )
        array[...] = data
        factor = float(2**index)
        scale = [(pixel_size_um or 1.0) * factor if name in "yx" else 1.0 for name in axes]
        datasets.append(
            {"path": str(index), "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        )
    axis_list: list[dict[str, Any]] = []
    for name in axes:
        kind = {"t": "time", "c": "channel"}.get(name, "space")
        axis: dict[str, Any] = {"name": name, "type": kind}
        if kind == "space" and pixel_size_um is not None:
            axis["unit"] = unit
        axis_list.append(axis)
    multiscale: dict[str, Any] = {"name": path.stem, "axes": axis_list, "datasets": datasets}
    channels = levels[0].shape[2]
    labels = channel_labels or [f"ch{i}" for i in range(channels)]
    omero = {
        "channels": [
            {"label": label, "color": "FFFFFF", "window": {"start": 0, "end": 255}}
            for label in labels
        ]
    }
    if zarr_format == 2:
        multiscale["version"] = version
        root.attrs.update({"multiscales": [multiscale], "omero": omero})
    else:
        root.attrs.update(
            {"ome": {"version": version, "multiscales": [multiscale], "omero": omero}}
        )
    return path


def write_bioformats2raw(path: Path, series: list[list[np.ndarray]], version: str = "0.4") -> Path:
    """A bioformats2raw collection: one multiscale image per series, each a scene."""
    import zarr

    zarr_format = 2 if version == "0.4" else 3
    root = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    layout = {"bioformats2raw.layout": 3}
    root.attrs.update(layout if zarr_format == 2 else {"ome": {"version": version, **layout}})
    for index, levels in enumerate(series):
        write_ome_zarr(path, levels, version=version, group=str(index))
    return path


def write_pillow(path: Path, pixels: np.ndarray, **save_args: Any) -> Path:
    """Save H x W x C uint8 (or H x W x 1 uint16) pixels with Pillow."""
    from PIL import Image

    array = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels
    Image.fromarray(array).save(path, **save_args)
    return path


def write_tiff_with_corrupt_tile(path: Path) -> Path:
    """A 512 x 512 tiled deflate TIFF whose first tile is zeros (not a deflate stream)."""
    import tifffile

    tifffile.imwrite(
        path, pattern(512, 512, 3), tile=(256, 256), compression="zlib", photometric="rgb"
    )
    with tifffile.TiffFile(path) as tif:
        offset, size = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(bytes(size))
    return path
