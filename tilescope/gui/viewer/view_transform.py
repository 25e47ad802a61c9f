"""Level-0 <-> widget coordinates of a slide view, as one immutable value.

Every tool that draws over a slide or reacts to the mouse uses this object: overlays,
annotation tools, the minimap and the scale bar all agree on one mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QTransform


@dataclass(frozen=True, slots=True)
class ViewTransform:
    """Where a view looks: the level-0 point at its centre and the zoom.

    `downsample` is level-0 pixels per *logical* widget pixel; with a device pixel ratio `dpr`
    (2 on most HiDPI screens) one logical pixel covers `dpr` device pixels, so the pyramid
    level is chosen from `device_downsample`.
    """

    center_x: float
    center_y: float
    downsample: float
    width: float  # widget size in logical pixels
    height: float
    dpr: float = 1.0

    @classmethod
    def fit(
        cls, image_width: float, image_height: float, width: float, height: float, dpr: float = 1.0
    ) -> ViewTransform:
        """The whole image centred in a `width` x `height` widget, with a small margin."""
        w, h = max(width, 1.0), max(height, 1.0)
        downsample = max(image_width / w, image_height / h) * 1.02
        return cls(image_width / 2, image_height / 2, max(downsample, 1e-6), w, h, dpr)

    @property
    def device_downsample(self) -> float:
        """Level-0 pixels per device pixel: what decides the pyramid level to draw."""
        return self.downsample / self.dpr

    @property
    def scale(self) -> float:
        """Logical widget pixels per level-0 pixel."""
        return 1.0 / self.downsample

    @property
    def left(self) -> float:
        return self.center_x - self.width * self.downsample / 2

    @property
    def top(self) -> float:
        return self.center_y - self.height * self.downsample / 2

    # -- mapping ------------------------------------------------------------------------
    def to_widget(self, x: float, y: float) -> tuple[float, float]:
        """A level-0 point in logical widget pixels."""
        return ((x - self.left) / self.downsample, (y - self.top) / self.downsample)

    def to_level0(self, wx: float, wy: float) -> tuple[float, float]:
        """A logical widget point in level-0 pixels."""
        return (self.left + wx * self.downsample, self.top + wy * self.downsample)

    def map_to_level0(self, point: QPointF) -> QPointF:
        return QPointF(*self.to_level0(point.x(), point.y()))

    def map_to_widget(self, point: QPointF) -> QPointF:
        return QPointF(*self.to_widget(point.x(), point.y()))

    def visible_rect(self) -> QRectF:
        """The level-0 rectangle the widget shows (may extend beyond the image)."""
        return QRectF(
            self.left, self.top, self.width * self.downsample, self.height * self.downsample
        )

    def qtransform(self) -> QTransform:
        """Level-0 -> logical widget coordinates, for `QPainter.setTransform`."""
        s = self.scale
        return QTransform(s, 0.0, 0.0, s, -self.left * s, -self.top * s)

    # -- derived views ------------------------------------------------------------------
    def with_size(self, width: float, height: float, dpr: float | None = None) -> ViewTransform:
        """Same centre and zoom in a resized widget (the centre stays put, like QuPath)."""
        return replace(self, width=max(width, 1.0), height=max(height, 1.0), dpr=dpr or self.dpr)

    def centered_on(self, x: float, y: float) -> ViewTransform:
        return replace(self, center_x=x, center_y=y)

    def panned_by(self, dx: float, dy: float) -> ViewTransform:
        """Move the content by (dx, dy) logical pixels (drag direction)."""
        return replace(
            self,
            center_x=self.center_x - dx * self.downsample,
            center_y=self.center_y - dy * self.downsample,
        )

    def zoomed_to(
        self, downsample: float, anchor: tuple[float, float] | None = None
    ) -> ViewTransform:
        """New zoom; the level-0 point under the widget point `anchor` stays under it."""
        if anchor is None:
            return replace(self, downsample=downsample)
        ax, ay = anchor
        x0, y0 = self.to_level0(ax, ay)
        left = x0 - ax * downsample
        top = y0 - ay * downsample
        return replace(
            self,
            downsample=downsample,
            center_x=left + self.width * downsample / 2,
            center_y=top + self.height * downsample / 2,
        )
