"""A probability map drawn over the slide (an `OverlayLayer`), coloured by a colour map.

Painting never reads the file: it draws the last window a worker thread delivered. When the
view shows a part or a resolution that window does not cover, a read of the matching pyramid
level (padded by half a viewport, so small pans need no new read) goes to a one-thread
`KeyedExecutor` under the key "window": a newer request supersedes the older one.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRectF, Signal
from PySide6.QtGui import QImage, QPainter

from tilescope.engine.inference.probability_pyramid import MapWindow, ProbabilityPyramid
from tilescope.gui.ai.colormap import colourise
from tilescope.gui.workers import KeyedExecutor, function_worker

PADDING = 0.5  # fraction of the viewport read beyond each side


class HeatmapLayer(QObject):
    repaint_needed = Signal()

    def __init__(
        self,
        path: str | Path,
        *,
        name: str = "",
        colour_map: str = "viridis",
        opacity: float = 0.5,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.pyramid = ProbabilityPyramid(path)  # raises HeatmapError for a bad folder
        self.name = name or Path(path).name
        self.visible = True
        self.opacity = opacity
        self._colour_map = colour_map
        self._window: MapWindow | None = None
        self._image: QImage | None = None
        self._wanted: tuple[int, tuple[float, float, float, float]] | None = None
        self._executor: KeyedExecutor[str] = KeyedExecutor(1, "heatmap-read")

    @property
    def colour_map(self) -> str:
        return self._colour_map

    def set_colour_map(self, name: str) -> None:
        self._colour_map = name
        self._window = self._image = None  # re-read and re-colour
        self._wanted = None
        self.repaint_needed.emit()

    def close(self) -> None:
        self._executor.shutdown()

    @property
    def loaded(self) -> bool:
        return self._image is not None

    # -- OverlayLayer -------------------------------------------------------------------
    def paint(self, painter: QPainter, viewport: QRectF, scale: float) -> None:
        level = self.pyramid.level_for(1.0 / max(scale, 1e-9))
        if not self._covers(viewport, level):
            self._request(viewport, level)
        if self._image is not None and self._window is not None:
            x, y, w, h = self._window.rect
            painter.drawImage(QRectF(x, y, w, h), self._image)

    def _covers(self, viewport: QRectF, level: int) -> bool:
        window = self._window
        if window is None or window.level != level:
            return False
        x, y, w, h = window.rect
        return QRectF(x, y, w, h).contains(viewport.intersected(self._map_rect()))

    def _map_rect(self) -> QRectF:
        array = self.pyramid.levels[0]
        d = self.pyramid.base_downsample
        return QRectF(0, 0, array.shape[2] * d, array.shape[1] * d)

    def _request(self, viewport: QRectF, level: int) -> None:
        pad_x, pad_y = viewport.width() * PADDING, viewport.height() * PADDING
        box = (
            viewport.left() - pad_x,
            viewport.top() - pad_y,
            viewport.right() + pad_x,
            viewport.bottom() + pad_y,
        )
        wanted = (level, box)
        if self._wanted is not None and self._wanted[0] == level:
            x0, y0, x1, y1 = self._wanted[1]
            inside = x0 <= viewport.left() and y0 <= viewport.top()
            if inside and x1 >= viewport.right() and y1 >= viewport.bottom():
                return  # already on its way
        self._wanted = wanted
        worker = function_worker(self._read, box, level, self._colour_map)
        worker.on_returned(self._on_delivered).start(self._executor, key="window")

    def _read(
        self, box: tuple[float, float, float, float], level: int, cmap: str
    ) -> tuple[MapWindow, QImage]:
        window = self.pyramid.read(*box, level)
        if window.pixels.size == 0:
            image = QImage()
        else:
            rgba = colourise(window.pixels, cmap)
            h, w = rgba.shape[:2]
            image = QImage(rgba.data, w, h, w * 4, QImage.Format.Format_RGBA8888).copy()
        return window, image

    def _on_delivered(self, read: tuple[MapWindow, QImage]) -> None:
        window, image = read
        self._window = window
        self._image = None if image.isNull() else image
        self.repaint_needed.emit()
