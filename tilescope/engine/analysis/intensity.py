"""Stain intensity of many objects: mean, std and max OD inside each object and in a ring.

Objects are grouped by the tile their centre falls in; each tile's pixels are read once,
its objects (and the neighbours that block their rings) rasterised into a label image, and
the statistics of every object reduced together with `np.bincount` / `np.maximum.at`.
Tiles run on a small thread pool (decoding and numpy release the GIL).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely

from tilescope.engine.analysis.raster import rasterize_labels, ring_labels
from tilescope.engine.analysis.stain import StainVectors, deconvolve
from tilescope.engine.inference.progress import CancelToken, ProgressTracker

ReadRegion = Callable[[int, int, int, int], np.ndarray]  # x, y, w, h (level 0) -> RGB
STATISTICS = ("mean", "std", "max")
RING_PREFIX = "cytoplasm_"
REGION_FACTOR = 25.0


def intensity_column_names(stains: StainVectors) -> list[str]:
    names = [f"{s}_od_{stat}" for s in stains.names for stat in STATISTICS]
    return names + [RING_PREFIX + n for n in names]


@dataclass
class _Sums:
    """Running per-object sums for one compartment (object or ring)."""

    count: np.ndarray
    total: np.ndarray  # (n, stains)
    squares: np.ndarray
    peak: np.ndarray

    @classmethod
    def zeros(cls, n: int, k: int) -> _Sums:
        return cls(np.zeros(n), np.zeros((n, k)), np.zeros((n, k)), np.full((n, k), -np.inf))

    def add(self, index: np.ndarray, values: np.ndarray) -> None:
        self.count += np.bincount(index, minlength=len(self.count))
        for s in range(values.shape[1]):
            v = values[:, s].astype(np.float64)
            self.total[:, s] += np.bincount(index, v, minlength=len(self.count))
            self.squares[:, s] += np.bincount(index, v * v, minlength=len(self.count))
            np.maximum.at(self.peak[:, s], index, v)

    def columns(self) -> list[np.ndarray]:
        """mean, std, max per stain (NaN where the compartment has no pixels)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            n = np.where(self.count > 0, self.count, np.nan)[:, None]
            mean = self.total / n
            std = np.sqrt(np.maximum(self.squares / n - mean * mean, 0))
            peak = np.where(np.isfinite(self.peak), self.peak, np.nan)
        out = []
        for s in range(self.total.shape[1]):
            out += [mean[:, s], std[:, s], peak[:, s]]
        return out


@dataclass(frozen=True, slots=True)
class _TileResult:
    inside: tuple[np.ndarray, np.ndarray]  # global object index per pixel, stain amounts
    ring: tuple[np.ndarray, np.ndarray]


def _tile_groups(bounds: np.ndarray, tile_size: int, eligible: np.ndarray) -> list[np.ndarray]:
    """Indices of the eligible objects, grouped by the tile holding their bbox centre."""
    idx = np.flatnonzero(eligible)
    if not len(idx):
        return []
    cx = ((bounds[idx, 0] + bounds[idx, 2]) / 2 // tile_size).astype(np.int64)
    cy = ((bounds[idx, 1] + bounds[idx, 3]) / 2 // tile_size).astype(np.int64)
    key = cy * (1 << 31) + cx
    order = np.argsort(key, kind="stable")
    splits = np.flatnonzero(np.diff(key[order])) + 1
    return np.split(idx[order], splits)


def measure_intensity(
    read_region: ReadRegion,
    geometries: np.ndarray,
    image_size: tuple[int, int],
    stains: StainVectors,
    ring_px: float,
    *,
    tile_size: int = 2048,
    max_object_px: int = 1024,
    threads: int = 2,
    progress: Callable[..., None] | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, np.ndarray]:
    """Intensity columns (see `intensity_column_names`) for each geometry.

    Objects wider or taller than `max_object_px`, or with more than REGION_FACTOR times the
    median area (annotation regions, not cells), get NaN and neither block rings nor cover
    cells. Where measured objects overlap, smaller ones win.
    """
    geoms = np.asarray(geometries, dtype=object)
    n, k = len(geoms), len(stains.names)
    inside, around = _Sums.zeros(n, k), _Sums.zeros(n, k)
    bounds = shapely.bounds(geoms) if n else np.zeros((0, 4))
    size_ok = (bounds[:, 2] - bounds[:, 0] <= max_object_px) & (
        bounds[:, 3] - bounds[:, 1] <= max_object_px
    )
    areas = shapely.area(geoms) if n else np.zeros(0)
    eligible = size_ok & (areas > 0)
    if eligible.any():  # regions drawn around cells are far larger than the cells
        eligible &= areas <= REGION_FACTOR * float(np.median(areas[eligible]))
    groups = _tile_groups(bounds, tile_size, eligible)
    candidates = np.flatnonzero(eligible)
    tree = shapely.STRtree(geoms[candidates])
    width, height = image_size
    margin = math.ceil(ring_px) + 1

    def run(members: np.ndarray) -> _TileResult:
        x0 = max(math.floor(bounds[members, 0].min()) - margin, 0)
        y0 = max(math.floor(bounds[members, 1].min()) - margin, 0)
        x1 = min(math.ceil(bounds[members, 2].max()) + margin, width)
        y1 = min(math.ceil(bounds[members, 3].max()) + margin, height)
        empty = (np.zeros(0, np.int64), np.zeros((0, k), np.float32))
        if x1 <= x0 or y1 <= y0:
            return _TileResult(empty, empty)
        near = candidates[tree.query(shapely.box(x0, y0, x1, y1))]
        near = near[np.argsort(-areas[near], kind="stable")]  # small objects painted last
        labels = rasterize_labels(
            geoms[near], np.arange(1, len(near) + 1), (x0, y0), (y1 - y0, x1 - x0)
        )
        rings = ring_labels(labels, ring_px)
        local_to_global = np.concatenate([[-1], near])
        measured = np.zeros(len(near) + 1, dtype=bool)
        measured[1:] = np.isin(near, members)
        rgb = read_region(x0, y0, x1 - x0, y1 - y0)
        result = []
        for image in (labels, rings):
            pick = measured[image]
            values = deconvolve(rgb[pick], stains)
            result.append((local_to_global[image[pick]], values))
        return _TileResult(result[0], result[1])

    tracker = ProgressTracker(len(groups), listener=progress)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        pending: list[Future[_TileResult]] = []
        queue = iter(groups)
        for members in queue:
            if cancel is not None:
                cancel.raise_if_cancelled()
            pending.append(pool.submit(run, members))
            if len(pending) >= 2 * max(1, threads):
                _collect(pending.pop(0), inside, around, tracker)
        for future in pending:
            if cancel is not None and cancel.cancelled:
                for rest in pending:
                    rest.cancel()
                cancel.raise_if_cancelled()
            _collect(future, inside, around, tracker)
    names = intensity_column_names(stains)
    return dict(zip(names, inside.columns() + around.columns(), strict=True))


def _collect(
    future: Future[_TileResult], inside: _Sums, around: _Sums, tracker: ProgressTracker
) -> None:
    result = future.result()
    inside.add(*result.inside)
    around.add(*result.ring)
    tracker.advance(1)
