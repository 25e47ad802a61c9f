"""Polygon tool (P): click the vertices; double-click or Enter closes, Backspace or Ctrl+Z
removes the last vertex, Escape cancels. Dragging with the button down traces freehand, as in
QuPath's polygon tool."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter

from tilescope.gui.annotations.drawing import cosmetic_pen
from tilescope.gui.annotations.qt_shapes import polygon_from_xy
from tilescope.gui.tools.base import AnnotationTool
from tilescope.gui.tools.outline import area_shape_type, polygon_from_trace

if TYPE_CHECKING:
    from tilescope.gui.annotations.overlay_layer import AnnotationOverlay
    from tilescope.gui.annotations.session import AnnotationSession
    from tilescope.gui.viewer.slide_view import SlideView

PREVIEW_COLOUR = QColor(255, 255, 255)
TRACE_STEP_PX = 2.0  # freehand: a new vertex every this many screen pixels


class PolygonTool(AnnotationTool):
    label = "Polygon"

    def __init__(self, session: AnnotationSession, overlay: AnnotationOverlay) -> None:
        super().__init__(session, overlay)
        self.vertices: list[tuple[float, float]] = []
        self._hover: tuple[float, float] | None = None
        self._pressed = False

    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event):
            return False
        self.vertices.append(self.level0(view, event.position()))
        self._pressed = True
        view.update()
        return True

    def mouse_move(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.vertices:
            return False
        point = self.level0(view, event.position())
        self._hover = point
        if self._pressed and self.drawing(event):
            last = self.vertices[-1]
            step = TRACE_STEP_PX * self.downsample(view)
            if math.hypot(point[0] - last[0], point[1] - last[1]) >= step:
                self.vertices.append(point)
        view.update()
        return True

    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event) or not self._pressed:
            return False
        self._pressed = False
        return True

    def mouse_double_click(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event):
            return False
        self.finish(view)
        return True

    def key_press(self, view: SlideView, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.vertices:
            self.finish(view)
            return True
        if key == Qt.Key.Key_Backspace and self.vertices:
            self.undo_step()
            return True
        return super().key_press(view, event)

    def undo_step(self) -> bool:
        if not self.vertices:
            return False
        self.vertices.pop()
        self.refresh()
        return True

    def finish(self, view: SlideView) -> None:
        """Close the polygon and store it (fewer than 3 distinct vertices: nothing)."""
        tolerance = 0.25 * self.downsample(view)
        geometry = polygon_from_trace(_dedupe(self.vertices), tolerance)
        self.cancel()
        if geometry is not None:
            made = self.session.add_shape(geometry, area_shape_type(geometry), self.label)
            self.session.select([made.id])
        view.update()

    def cancel(self) -> None:
        self.vertices = []
        self._hover = None
        self._pressed = False

    def paint_preview(self, painter: QPainter, scale: float) -> None:
        if not self.vertices:
            return
        points = list(self.vertices)
        if self._hover is not None and not self._pressed:
            points.append(self._hover)
        painter.setPen(cosmetic_pen(PREVIEW_COLOUR, 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPolyline(polygon_from_xy(points))
        radius = 3.0 / scale
        painter.setBrush(PREVIEW_COLOUR)
        for x, y in self.vertices[:: max(1, len(self.vertices) // 200)]:
            painter.drawEllipse(QPointF(x, y), radius, radius)


def _dedupe(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for point in points:
        if not out or point != out[-1]:
            out.append(point)
    return out
