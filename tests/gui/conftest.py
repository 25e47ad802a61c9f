"""Fixtures for the viewer tests: real slides (bundled demo, synthetic files) and an in-memory
pyramid source (a real SlideSource subclass) whose reads a test can hold back."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from tilescope.engine.slide import Level, SlideMetadata, SlideSource, TileCache
from tilescope.gui.viewer.slide_view import SlideView
from tilescope.resources import demo_slide_path


class ArraySource(SlideSource):
    """A pyramid held in numpy arrays; `gate` (when set) blocks every read until it is set."""

    backend_name = "memory"

    def __init__(
        self,
        levels: list[np.ndarray],
        *,
        tile: int = 256,
        mpp: float | None = 0.5,
        channel_names: tuple[str, ...] | None = None,
        is_rgb: bool = True,
    ) -> None:
        super().__init__(Path("in-memory.tif"), cache=TileCache(256 * 1024 * 1024))
        self.levels = levels
        self.tile = tile
        self.mpp = mpp
        self.is_rgb = is_rgb
        channels = levels[0].shape[2]
        self.channel_names = channel_names or tuple(f"C{i}" for i in range(channels))
        self.gate: threading.Event | None = None
        self.reads: list[tuple[int, int, int]] = []
        self._reads_lock = threading.Lock()

    def _load_metadata(self) -> SlideMetadata:
        base = self.levels[0]
        return SlideMetadata(
            format="memory",
            levels=tuple(
                Level(a.shape[1], a.shape[0], base.shape[1] / a.shape[1]) for a in self.levels
            ),
            mpp=(self.mpp, self.mpp) if self.mpp else None,
            channels=base.shape[2],
            channel_names=self.channel_names,
            dtype=str(base.dtype),
            is_rgb=self.is_rgb,
        )

    def tile_size(self, level: int) -> tuple[int, int]:
        return (self.tile, self.tile)

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait(10)
        with self._reads_lock:
            self.reads.append((level, x // self.tile, y // self.tile))
        return np.ascontiguousarray(self.levels[level][y : y + height, x : x + width])


def rgb_pyramid(width: int, height: int, levels: int) -> list[np.ndarray]:
    """A colourful RGB pattern and its 2x downsampled levels (each tile looks different)."""
    xx = np.arange(width, dtype=np.int32)[None, :]
    yy = np.arange(height, dtype=np.int32)[:, None]
    base = np.empty((height, width, 3), dtype=np.uint8)
    base[:, :, 0] = (xx * 255 // width).astype(np.uint8)
    base[:, :, 1] = (yy * 255 // height).astype(np.uint8)
    base[:, :, 2] = (((xx // 37 + yy // 53) % 2) * 200 + 20).astype(np.uint8)
    out = [base]
    for _ in range(levels - 1):
        out.append(np.ascontiguousarray(out[-1][::2, ::2]))
    return out


@pytest.fixture
def make_view(qtbot):
    """Factory of shown SlideViews; their loaders stop and slides close after the test."""
    views: list[SlideView] = []

    def make(source: SlideSource, width: int = 800, height: int = 600) -> SlideView:
        view = SlideView(source)
        qtbot.addWidget(view)
        view.resize(width, height)
        view.show()
        views.append(view)
        return view

    yield make
    for view in views:
        view.close_slide()


@pytest.fixture
def demo_path() -> Path:
    return demo_slide_path()


@pytest.fixture
def array_source() -> ArraySource:
    source = ArraySource(rgb_pyramid(4096, 3072, 4))
    yield source
    source.close()


@pytest.fixture
def multichannel_ome_tiff(tmp_path: Path) -> Path:
    """A 3-channel uint16 pyramidal OME-TIFF: DAPI (blue) disc, FITC stripes, Cy5 dim."""
    import tifffile

    yy, xx = np.mgrid[0:768, 0:1024]
    dapi = np.where((xx - 300) ** 2 + (yy - 300) ** 2 < 150**2, 3000, 200)
    fitc = np.where((xx // 64) % 2 == 0, 1500, 100)
    cy5 = (yy * 2).astype(np.int64)
    data = np.stack([dapi, fitc, cy5]).astype(np.uint16)
    path = tmp_path / "fluo.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(
            data,
            tile=(256, 256),
            subifds=1,
            metadata={
                "axes": "CYX",
                "Channel": {"Name": ["DAPI", "FITC", "Cy5"]},
                "PhysicalSizeX": 0.65,
                "PhysicalSizeY": 0.65,
            },
        )
        tif.write(data[:, ::2, ::2], tile=(256, 256), subfiletype=1)
    return path
