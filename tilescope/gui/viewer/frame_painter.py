"""Paints one frame of a slide view: tiles at device pixels, stand-ins, overlays.

Draws only what is already in memory (paint-ready QImages and the resident overview), so a
frame never waits for a file. Each device pixel is written about once: margins are filled
around the slide, not under it, and a missing tile gets one stand-in for its own square.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRect, QRectF
from PySide6.QtGui import QColor, QImage, QPainter

from tilescope.engine.slide import SlideSource
from tilescope.gui.viewer.image_cache import ImageCache
from tilescope.gui.viewer.overlay import OverlayLayer
from tilescope.gui.viewer.tile_layout import (
    TileKey,
    covering_tile,
    level_for,
    tile_bounds_level0,
    visible_tiles,
)
from tilescope.gui.viewer.tile_loader import overview_downsample
from tilescope.gui.viewer.view_transform import ViewTransform

BACKDROP = QColor(40, 40, 44)


class FramePainter:
    """The drawing half of a SlideView (GUI thread only)."""

    def __init__(self, source: SlideSource, images: ImageCache) -> None:
        self._source = source
        self.images = images
        #: The whole slide at low resolution, resident; None until the loader delivers it.
        self.overview: QImage | None = None
        self.overview_downsample = overview_downsample(source.metadata)  # known up front

    def tiles_to_draw(self, t: ViewTransform) -> list[TileKey]:
        """Tiles a frame for `t` draws (none when the overview is sharp enough)."""
        if self.overview_suffices(t):
            return []
        return visible_tiles(self._source, level_for(self._source, t), t)

    def overview_suffices(self, t: ViewTransform) -> bool:
        """The overview is a level of its own: when it is as fine as the screen (or as the
        level that would be drawn) and no coarser than that level, one image replaces all
        the tiles (for single-level images zoomed out this saves decoding and scaling each)."""
        overview_ds = self.overview_downsample
        level_ds = self._source.metadata.levels[level_for(self._source, t)].downsample
        eps = 1e-6
        finest_needed = max(t.device_downsample, level_ds)
        return level_ds * (1 - eps) <= overview_ds <= finest_needed * (1 + eps)

    def paint(
        self,
        painter: QPainter,
        t: ViewTransform,
        *,
        smooth: bool,
        overlays: Sequence[OverlayLayer] = (),
    ) -> None:
        """Draw slide and overlays for `t` (logical coordinates)."""
        meta = self._source.metadata
        widget_rect = QRectF(0, 0, t.width, t.height)
        x0, y0 = t.to_widget(0, 0)
        slide_rect = QRectF(x0, y0, meta.width / t.downsample, meta.height / t.downsample)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.scale(1 / t.dpr, 1 / t.dpr)  # draw in device pixels: exact tile seams
        # Each pixel is written about once: at DPR 2 a full-screen fill costs as much as
        # drawing all the tiles. The slide's edge pixels are filled too; tiles cover them.
        device_slide = _scaled(slide_rect, t.dpr)
        inner = QRectF(
            QPointF(math.ceil(device_slide.left()), math.ceil(device_slide.top())),
            QPointF(math.floor(device_slide.right()), math.floor(device_slide.bottom())),
        )
        for strip in _outside(_scaled(widget_rect, t.dpr), inner):
            painter.fillRect(strip, BACKDROP)
        if self.overview_suffices(t):
            self._paint_overview(painter, t)
            painter.restore()
            self._paint_overlays(painter, t, overlays)
            return
        level = level_for(self._source, t)
        present: list[tuple[TileKey, QImage]] = []
        missing: list[TileKey] = []
        for key in visible_tiles(self._source, level, t):
            entry = self.images.get(key)
            if entry is None:
                missing.append(key)
            else:
                present.append((key, entry[0]))
        if any(image.hasAlphaChannel() for _, image in present):
            bg = self._source.background
            painter.fillRect(
                device_slide.intersected(_scaled(widget_rect, t.dpr)), QColor(bg, bg, bg)
            )
        for key in missing:
            self._paint_stand_in(painter, t, key)
        for key, image in present:
            painter.drawImage(self.device_rect(t, key), image)
        painter.restore()
        self._paint_overlays(painter, t, overlays)

    def device_rect(self, t: ViewTransform, key: TileKey) -> QRect:
        """Where a tile lands, in device pixels."""
        return _device_rect(t, tile_bounds_level0(self._source, key))

    def _paint_overview(self, painter: QPainter, t: ViewTransform) -> None:
        """The visible part of the overview (device-pixel painter); background until loaded."""
        meta = self._source.metadata
        visible = t.visible_rect().intersected(QRectF(0, 0, meta.width, meta.height))
        if visible.isEmpty():
            return
        dds = t.device_downsample
        target = QRectF(
            (visible.left() - t.left) / dds,
            (visible.top() - t.top) / dds,
            visible.width() / dds,
            visible.height() / dds,
        )
        overview = self.overview
        if overview is None:
            bg = self._source.background
            painter.fillRect(target, QColor(bg, bg, bg))
            return
        sx, sy = overview.width() / meta.width, overview.height() / meta.height
        source = QRectF(
            visible.left() * sx, visible.top() * sy, visible.width() * sx, visible.height() * sy
        )
        painter.drawImage(target, overview, source)

    def _paint_stand_in(self, painter: QPainter, t: ViewTransform, key: TileKey) -> None:
        """Progressive refinement: fill a missing tile's square from the finest coarser tile
        in the cache that covers it, else from the overview. Only that square is drawn, so
        no pixel is painted twice however many tiles are missing."""
        bounds = tile_bounds_level0(self._source, key)
        target = QRectF(_device_rect(t, bounds))
        x0, y0, x1, y1 = bounds
        levels = self._source.metadata.levels
        for coarser in range(key[0] + 1, len(levels)):
            cover = covering_tile(self._source, coarser, (x0 + x1) / 2, (y0 + y1) / 2)
            entry = self.images.peek(cover)
            if entry is None:
                continue
            cx0, cy0, cx1, cy1 = tile_bounds_level0(self._source, cover)
            if cx0 <= x0 and cy0 <= y0 and x1 <= cx1 + 1e-6 and y1 <= cy1 + 1e-6:
                ds = levels[coarser].downsample
                source = QRectF((x0 - cx0) / ds, (y0 - cy0) / ds, (x1 - x0) / ds, (y1 - y0) / ds)
                painter.drawImage(target, entry[0], source)
                return
        overview = self.overview
        if overview is None:
            bg = self._source.background
            painter.fillRect(target, QColor(bg, bg, bg))
            return
        meta = self._source.metadata
        sx, sy = overview.width() / meta.width, overview.height() / meta.height
        source = QRectF(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy)
        painter.drawImage(target, overview, source)

    def _paint_overlays(
        self, painter: QPainter, t: ViewTransform, overlays: Sequence[OverlayLayer]
    ) -> None:
        layers = [layer for layer in overlays if layer.visible and layer.opacity > 0]
        if not layers:
            return
        viewport = t.visible_rect()
        for layer in layers:
            painter.save()
            painter.setClipRect(QRectF(0, 0, t.width, t.height))
            painter.setTransform(t.qtransform(), combine=True)
            painter.setOpacity(layer.opacity)
            layer.paint(painter, viewport, t.scale)
            painter.restore()


def _outside(outer: QRectF, inner: QRectF) -> list[QRectF]:
    """Up to four strips of `outer` not covered by `inner`."""
    inner = inner.intersected(outer)
    if inner.isEmpty():
        return [outer]
    strips = [
        QRectF(outer.left(), outer.top(), outer.width(), inner.top() - outer.top()),
        QRectF(outer.left(), inner.bottom(), outer.width(), outer.bottom() - inner.bottom()),
        QRectF(outer.left(), inner.top(), inner.left() - outer.left(), inner.height()),
        QRectF(inner.right(), inner.top(), outer.right() - inner.right(), inner.height()),
    ]
    return [strip for strip in strips if strip.width() > 0 and strip.height() > 0]


def _scaled(rect: QRectF, factor: float) -> QRectF:
    return QRectF(
        rect.left() * factor, rect.top() * factor, rect.width() * factor, rect.height() * factor
    )


def _device_rect(t: ViewTransform, bounds: tuple[float, float, float, float]) -> QRect:
    """A level-0 rectangle in device pixels. Both edges are rounded the same way everywhere,
    so neighbouring tiles share their edge: no gaps, no overlaps."""
    x0, y0, x1, y1 = bounds
    dds = t.device_downsample
    dx0, dy0 = round((x0 - t.left) / dds), round((y0 - t.top) / dds)
    dx1, dy1 = round((x1 - t.left) / dds), round((y1 - t.top) / dds)
    return QRect(dx0, dy0, dx1 - dx0, dy1 - dy0)
