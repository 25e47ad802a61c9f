"""A numpy array as a one-level `SlideSource`, so scripts can run models on plain images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tilescope.engine.slide.metadata import Level, SlideMetadata
from tilescope.engine.slide.source import SlideSource
from tilescope.engine.slide.tile_cache import TileCache


class ArraySlide(SlideSource):
    backend_name = "array"

    def __init__(
        self,
        image: np.ndarray,
        mpp: float | None = None,
        name: str = "<array>",
        cache: TileCache | None = None,
    ) -> None:
        super().__init__(Path(name), 0, cache)
        array = np.asarray(image)
        self._image = array if array.ndim == 3 else array[..., None]
        self._mpp = mpp

    def _load_metadata(self) -> SlideMetadata:
        h, w, c = self._image.shape
        rgb = c == 3 and self._image.dtype == np.uint8
        return SlideMetadata(
            format="array",
            levels=(Level(w, h, 1.0),),
            mpp=(self._mpp, self._mpp) if self._mpp else None,
            channels=c,
            channel_names=("R", "G", "B") if rgb else tuple(f"C{i}" for i in range(c)),
            dtype=str(self._image.dtype),
            is_rgb=rgb,
        )

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        return self._image[y : y + height, x : x + width]
