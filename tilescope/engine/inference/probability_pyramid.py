"""Reading a run's probability map by viewport: the reader beside its writer
(`stitching.ProbabilityZarr`), so the OME-Zarr layout is known in one package.

The map covers the slide at the model's downsample (attribute ``tilescope.downsample``);
level k of the pyramid is 2**k times coarser. Reads are plain numpy slices of one level, so a
worker thread can fetch exactly the window a view shows. No GUI here: the viewer's heat-map
layer colours what this returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tilescope.engine.errors import TilescopeError


class HeatmapError(TilescopeError):
    """The folder is not a readable probability map; the message names it."""


@dataclass(frozen=True, slots=True)
class MapWindow:
    """Pixels of one pyramid level and the level-0 rectangle (x, y, w, h) they cover."""

    pixels: np.ndarray  # H x W uint8, the strongest class at each pixel
    level: int
    rect: tuple[float, float, float, float]


class ProbabilityPyramid:
    def __init__(self, path: str | Path) -> None:
        import zarr

        self.path = Path(path)
        try:
            root: Any = zarr.open_group(str(self.path), mode="r")
            info = dict(root.attrs["tilescope"])
            self.base_downsample = float(info["downsample"])
            self.channel_names: list[str] = list(info.get("channels", []))
            multiscales = root.attrs.get("multiscales")
            paths = [d["path"] for d in multiscales[0]["datasets"]] if multiscales else ["0"]
            self.levels: list[Any] = [root[p] for p in paths]
        except (KeyError, ValueError, TypeError, OSError, IndexError) as error:
            raise HeatmapError(f"{self.path}: not a tilescope probability map ({error})") from None
        except Exception as error:  # zarr raises its own errors for missing/garbled folders
            raise HeatmapError(f"{self.path}: not a tilescope probability map ({error})") from None

    def level_downsample(self, level: int) -> float:
        """Level-0 slide pixels per pixel of `level`."""
        return self.base_downsample * 2.0**level

    def level_for(self, downsample: float) -> int:
        """The coarsest level still at least as fine as the view (`downsample` level-0/px)."""
        best = 0
        for level in range(len(self.levels)):
            if self.level_downsample(level) <= downsample * 1.01:
                best = level
        return best

    def read(self, x0: float, y0: float, x1: float, y1: float, level: int) -> MapWindow:
        """The map over level-0 box (x0, y0)-(x1, y1) at `level`, clipped to the map."""
        array = self.levels[level]
        d = self.level_downsample(level)
        _, height, width = array.shape
        c0, r0 = max(0, math.floor(x0 / d)), max(0, math.floor(y0 / d))
        c1, r1 = min(width, math.ceil(x1 / d)), min(height, math.ceil(y1 / d))
        if c1 <= c0 or r1 <= r0:
            return MapWindow(np.zeros((0, 0), dtype=np.uint8), level, (x0, y0, 0.0, 0.0))
        block = np.asarray(array[:, r0:r1, c0:c1])
        pixels = block.max(axis=0) if block.shape[0] > 1 else block[0]
        rect = (c0 * d, r0 * d, (c1 - c0) * d, (r1 - r0) * d)
        return MapWindow(np.ascontiguousarray(pixels, dtype=np.uint8), level, rect)
