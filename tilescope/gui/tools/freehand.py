"""Freehand (lasso) tool (Shift+P): press, trace the outline, release to close it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter

from tilescope.gui.annotations.drawing import cosmetic_pen
from tilescope.gui.annotations.qt_shapes import polygon_from_xy
from tilescope.gui.tools.base import AnnotationTool
from tilescope.gui.tools.outline import area_shape_type, polygon_from_trace

if TYPE_CHECKING:
    from tilescope.gui.annotations.overlay_layer import AnnotationOverlay
    from tilescope.gui.annotations.session import AnnotationSession
    from tilescope.gui.viewer.slide_view import SlideView

PREVIEW_COLOUR = QColor(255, 255, 255)
TRACE_STEP_PX = 1.5


class FreehandTool(AnnotationTool):
    label = "Freehand"

    def __init__(self, session: AnnotationSession, overlay: AnnotationOverlay) -> None:
        super().__init__(session, overlay)
        self.trace: list[tuple[float, float]] = []

    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event):
            return False
        self.trace = [self.level0(view, event.position())]
        return True

    def mouse_move(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.trace:
            return False
        point = self.level0(view, event.position())
        last = self.trace[-1]
        if math.hypot(point[0] - last[0], point[1] - last[1]) >= TRACE_STEP_PX * self.downsample(
            view
        ):
            self.trace.append(point)
            view.update()
        return True

    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.trace or not self.is_draw_button(event):
            return False
        self.trace.append(self.level0(view, event.position()))
        geometry = polygon_from_trace(self.trace, 0.5 * self.downsample(view))
        self.cancel()
        if geometry is not None:
            made = self.session.add_shape(geometry, area_shape_type(geometry), self.label)
            self.session.select([made.id])
        view.update()
        return True

    def cancel(self) -> None:
        self.trace = []

    def paint_preview(self, painter: QPainter, scale: float) -> None:
        if len(self.trace) < 2:
            return
        painter.setPen(cosmetic_pen(PREVIEW_COLOUR, 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPolyline(polygon_from_xy([*self.trace, self.trace[0]]))
