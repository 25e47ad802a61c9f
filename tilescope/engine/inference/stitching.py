"""Putting tile results together: every instance once, probability maps into OME-Zarr.

Instances: an object is kept by the one tile whose core holds its centroid, after objects
touching an inner tile edge (possibly cut) are dropped. Because the plan's overlap exceeds
the largest object, the owning tile always sees the object whole, so nothing is duplicated
and nothing is cut in half.

Probability maps: each tile contributes with weight 1 in its core and a linear ramp across
each seam to a written neighbour, over the band both tiles see reliably (the halo never
contributes); the ramps are 0.5 on the core boundary, where the instance rule changes owner,
and neighbouring weights sum to 1, so the stored map blends tiles without steps. The map
goes into a chunked zarr array (OME-Zarr 0.4, zarr_format=2) covering the slide at model
resolution; a pyramid is built when the run ends.
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
    def write_tile(
        self,
        tile: TileInfo,
        probabilities: np.ndarray,
        halo: int = 0,
        blend: tuple[bool, bool, bool, bool] | None = None,
    ) -> None:
        """Add one tile's share of the map: weight 1 inside its core, ramps across each seam.

        Across a seam between two tiles the weights run linearly from 0 to 1 over the band
        both tiles see reliably (their overlap without the halo), crossing 0.5 exactly on the
        core boundary, where the objects' centroid-in-core rule changes owner. The two
        weights sum to 1 everywhere (at corners the products of both axes do), so the
        stored value is a proper blend of the tiles' predictions: no step, no tile patch.
        `blend` (left, top, right, bottom) says which neighbours are written too (both
        sides of a seam must agree); towards any other side the tile writes its core alone,
        with weight 1 (the default: cores tile the map exactly, seams unblended).
        """
        if probabilities.shape[0] != self.channels:  # extra channels dropped, missing ones 0
            fitted = np.zeros((self.channels, *probabilities.shape[1:]), dtype=np.float32)
            n = min(self.channels, probabilities.shape[0])
            fitted[:n] = probabilities[:n]
            probabilities = fitted
        left, top, right, bottom = blend or (False, False, False, False)
        x_off = round(tile.x / tile.downsample)
        y_off = round(tile.y / tile.downsample)
        cx0, cy0, cx1, cy1 = tile.core
        band = max(0, min(cx0, cy0) - halo)  # reliable pixels past the core, on each side
        wx, ex0, ex1 = _axis_weights(cx0, cx1, band, left, right)
        wy, ey0, ey1 = _axis_weights(cy0, cy1, band, top, bottom)
        # clip to the map (tiles at the slide's edge reach past it) and to the tile's pixels
        ex0, ey0 = max(ex0, -x_off, 0), max(ey0, -y_off, 0)
        ex1 = min(ex1, self.width - x_off, probabilities.shape[2])
        ey1 = min(ey1, self.height - y_off, probabilities.shape[1])
        if ex1 <= ex0 or ey1 <= ey0:
            return
        block = probabilities[:, ey0:ey1, ex0:ex1] * (wy(ey0, ey1)[:, None] * wx(ex0, ex1)[None, :])
        # Tiles come in plan (row-major) order: only the bands towards the tiles above and to
        # the left already hold their shares; everything else of the extent is still empty.
        rows = max(0, min(ey1, cy0 + band) - ey0) if top and band > 0 else 0
        cols = max(0, min(ex1, cx0 + band) - ex0) if left and band > 0 else 0
        y0, x0 = y_off + ey0, x_off + ex0
        if rows:
            block[:, :rows] += self._read(y0, y0 + rows, x0, x0 + ex1 - ex0)
        if cols and rows < ey1 - ey0:
            block[:, rows:, :cols] += self._read(y0 + rows, y_off + ey1, x0, x0 + cols)
        sl = (slice(None), slice(y0, y_off + ey1), slice(x0, x_off + ex1))
        self.array[sl] = np.clip(np.rint(block * 255.0), 0, 255).astype(np.uint8)

    def _read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return np.asarray(self.array[:, y0:y1, x0:x1], dtype=np.float32) / 255.0

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


def _axis_weights(c0: int, c1: int, band: int, low: bool, high: bool) -> tuple[Any, int, int]:
    """(weights(e0, e1), extent start, extent end) of one tile along one axis, tile pixels.

    Towards a blended side the tile reaches `band` pixels past its core with a ramp that is
    0.5 on the core boundary; towards any other side it stops at the core with weight 1.
    """
    lo = c0 - band if low and band > 0 else c0
    hi = c1 + band if high and band > 0 else c1

    def weights(e0: int, e1: int) -> np.ndarray:
        positions = np.arange(e0, e1, dtype=np.float32) + 0.5
        w = np.ones(e1 - e0, dtype=np.float32)
        if lo < c0:
            w = np.minimum(w, (positions - (c0 - band)) / (2 * band))
        if hi > c1:
            w = np.minimum(w, ((c1 + band) - positions) / (2 * band))
        return np.clip(w, 0.0, 1.0).astype(np.float32)

    return weights, lo, hi
