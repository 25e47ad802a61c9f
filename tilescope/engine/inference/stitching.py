"""Putting tile results together: every instance once, probability maps into OME-Zarr.

Instances: an object is kept by the one tile whose core holds its centroid, after objects
touching an inner tile edge (possibly cut) are dropped. Because the plan's overlap exceeds
the largest object, the owning tile always sees the object whole, so nothing is duplicated
and nothing is cut in half.

Probability maps: each tile contributes its core plus a band reaching half-way into the
overlap (so the halo, the unreliable border, never contributes); across that band a linear
ramp blends it with the neighbours written before it (tiles are written in plan order by the
one writer). The map goes into a chunked zarr array (OME-Zarr 0.4, zarr_format=2) covering
the slide at model resolution; a pyramid is built when the run ends.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from tilescope.engine.annotations.model import Annotation
from tilescope.engine.inference.types import TileInfo


def keep_instance(annotation: Annotation, tile: TileInfo) -> bool:
    """The centroid-in-core rule, after dropping objects that touch an inner tile edge."""
    geometry = annotation.geometry
    if geometry.is_empty:
        return False
    minx, miny, maxx, maxy = geometry.bounds
    bx0, by0, bx1, by1 = tile.level0_box
    tol = 0.5 * tile.downsample
    left, top, right, bottom = tile.inner_edges
    if (
        (left and minx < bx0 + tol)
        or (top and miny < by0 + tol)
        or (right and maxx > bx1 - tol)
        or (bottom and maxy > by1 - tol)
    ):
        return False
    centroid = geometry.centroid
    cx0, cy0, cx1, cy1 = tile.level0_core
    return bool(cx0 <= centroid.x < cx1 and cy0 <= centroid.y < cy1)


def filter_instances(annotations: list[Annotation], tile: TileInfo) -> list[Annotation]:
    return [a for a in annotations if keep_instance(a, tile)]


class ProbabilityZarr:
    """A probability map over the slide at model resolution, as an OME-Zarr 0.4 image.

    Array "0" is C x Y x X uint8 (probability x 255), covering the whole slide at the
    model's downsample, chunked; tiles outside the region or background are never written
    (they read as 0). Not thread-safe: one writer.
    """

    CHUNK = 512

    def __init__(
        self,
        path: Path,
        slide_size: tuple[int, int],
        downsample: float,
        channels: int,
        mpp: tuple[float, float] | None,
        channel_names: list[str] | None = None,
        resume: bool = False,
    ) -> None:
        import zarr

        self.path = Path(path)
        self.downsample = downsample
        self.width = max(1, math.ceil(slide_size[0] / downsample))
        self.height = max(1, math.ceil(slide_size[1] / downsample))
        self.channels = channels
        self.mpp = mpp
        reopen = resume and self.path.exists()
        self.root = zarr.open_group(str(self.path), mode="a" if reopen else "w", zarr_format=2)
        self.array: Any
        if reopen and "0" in self.root:
            self.array = self.root["0"]
        else:
            self.array = self.root.create_array(
                "0",
                shape=(channels, self.height, self.width),
                chunks=(1, self.CHUNK, self.CHUNK),
                dtype="uint8",
                fill_value=0,
                overwrite=True,
            )
        self.root.attrs["tilescope"] = {
            "downsample": downsample,
            "slide_size": list(slide_size),
            "channels": channel_names or [f"class {i}" for i in range(channels)],
        }
        self._weights: dict[int, tuple[np.ndarray, np.ndarray, tuple[int, int]]] = {}

    # -- writing -------------------------------------------------------------------------
    def write_tile(self, tile: TileInfo, probabilities: np.ndarray, halo: int = 0) -> None:
        """Write one tile's core, feathered into the left and top neighbours written before.

        Tiles arrive in plan (row-major) order, so the neighbours to the left, above and
        above-left are already in the array. The tile writes its core plus a band reaching
        into those neighbours (never into its own halo), with a weight rising from 0 at the
        band's outer edge to 1 at the core, so seams blend instead of stepping.
        """
        if probabilities.shape[0] != self.channels:  # extra channels dropped, missing ones 0
            fitted = np.zeros((self.channels, *probabilities.shape[1:]), dtype=np.float32)
            n = min(self.channels, probabilities.shape[0])
            fitted[:n] = probabilities[:n]
            probabilities = fitted
        x_off = round(tile.x / tile.downsample)
        y_off = round(tile.y / tile.downsample)
        cx0, cy0, cx1, cy1 = tile.core
        left, top = tile.inner_edges[0], tile.inner_edges[1]
        band_x = max(0, min(cx0 - halo, cx0 // 2)) if left else 0
        band_y = max(0, min(cy0 - halo, cy0 // 2)) if top else 0
        ex0, ey0 = max(cx0 - band_x, -x_off), max(cy0 - band_y, -y_off)
        ex1, ey1 = min(cx1, self.width - x_off), min(cy1, self.height - y_off)
        if ex1 <= ex0 or ey1 <= ey0:
            return
        block = probabilities[:, ey0:ey1, ex0:ex1]
        weight = _ramp(ex0, ex1, cx0, band_x)[None, :] * _ramp(ey0, ey1, cy0, band_y)[:, None]
        sl = (slice(None), slice(y_off + ey0, y_off + ey1), slice(x_off + ex0, x_off + ex1))
        if bool((weight < 1.0).any()):
            existing = np.asarray(self.array[sl], dtype=np.float32) / 255.0
            block = existing * (1.0 - weight) + block * weight
        self.array[sl] = np.clip(np.rint(block * 255.0), 0, 255).astype(np.uint8)

    def finish(self, levels: int | None = None) -> None:
        """Build the pyramid (2x per level down to ~512 px) and write the multiscales."""
        datasets = [{"path": "0", "scale": 1.0}]
        previous: Any = self.array
        level = 0
        while max(previous.shape[1:]) > self.CHUNK and (levels is None or level + 1 < levels):
            level += 1
            shape = (
                self.channels,
                math.ceil(previous.shape[1] / 2),
                math.ceil(previous.shape[2] / 2),
            )
            current: Any = self.root.create_array(
                str(level),
                shape=shape,
                chunks=(1, self.CHUNK, self.CHUNK),
                dtype="uint8",
                fill_value=0,
                overwrite=True,
            )
            step = 2 * self.CHUNK
            for y in range(0, previous.shape[1], step):
                for x in range(0, previous.shape[2], step):
                    src = np.asarray(previous[:, y : y + step, x : x + step], dtype=np.float32)
                    if not src.any():
                        continue
                    ph, pw = src.shape[1] + src.shape[1] % 2, src.shape[2] + src.shape[2] % 2
                    padded = np.zeros((self.channels, ph, pw), dtype=np.float32)
                    padded[:, : src.shape[1], : src.shape[2]] = src
                    small = padded.reshape(self.channels, ph // 2, 2, pw // 2, 2).mean(axis=(2, 4))
                    current[
                        :, y // 2 : y // 2 + small.shape[1], x // 2 : x // 2 + small.shape[2]
                    ] = np.rint(small).astype(np.uint8)
            datasets.append({"path": str(level), "scale": float(2**level)})
            previous = current
        self.root.attrs["multiscales"] = [self._multiscales(datasets)]

    def _multiscales(self, datasets: list[dict[str, Any]]) -> dict[str, Any]:
        unit = "micrometer" if self.mpp else None
        base_x = self.downsample * (self.mpp[0] if self.mpp else 1.0)
        base_y = self.downsample * (self.mpp[1] if self.mpp else 1.0)
        space: dict[str, Any] = {"type": "space"}
        if unit:
            space["unit"] = unit
        return {
            "version": "0.4",
            "name": self.path.stem,
            "axes": [
                {"name": "c", "type": "channel"},
                {"name": "y", **space},
                {"name": "x", **space},
            ],
            "datasets": [
                {
                    "path": d["path"],
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [1.0, base_y * d["scale"], base_x * d["scale"]]}
                    ],
                }
                for d in datasets
            ],
        }


def _ramp(e0: int, e1: int, c0: int, band: int) -> np.ndarray:
    """Weights along one axis: rising linearly over the `band` pixels before `c0`, then 1."""
    positions = np.arange(e0, e1, dtype=np.float32) + 0.5
    if band <= 0:
        return np.ones(e1 - e0, dtype=np.float32)
    return np.clip((positions - (c0 - band)) / band, 0.0, 1.0).astype(np.float32)
