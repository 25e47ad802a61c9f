"""Shapes drawn by dragging a box from corner to corner (rectangle, ellipse).

Shift makes the box square (QuPath). A drag shorter than a few screen pixels makes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter
from shapely.geometry.base import BaseGeometry

from tilescope.gui.annotations.drawing import cosmetic_pen
from tilescope.gui.tools.base import MIN_DRAG_PX, AnnotationTool

if TYPE_CHECKING:
    from tilescope.gui.annotations.overlay_layer import AnnotationOverlay
    from tilescope.gui.annotations.session import AnnotationSession
    from tilescope.gui.viewer.slide_view import SlideView

PREVIEW_COLOUR = QColor(255, 255, 255)


class DragShapeTool(AnnotationTool):
    shape_type = "rectangle"
    label = "Rectangle"

    def __init__(self, session: AnnotationSession, overlay: AnnotationOverlay) -> None:
        super().__init__(session, overlay)
        self._start: tuple[float, float] | None = None
        self._end: tuple[float, float] | None = None
        self._square = False

    def make_geometry(self, x0: float, y0: float, x1: float, y1: float) -> BaseGeometry:
        raise NotImplementedError

    def box(self) -> tuple[float, float, float, float] | None:
        if self._start is None or self._end is None:
            return None
        (sx, sy), (ex, ey) = self._start, self._end
        if self._square:
            side = max(abs(ex - sx), abs(ey - sy))
            ex = sx + side * (1 if ex >= sx else -1)
            ey = sy + side * (1 if ey >= sy else -1)
        return (min(sx, ex), min(sy, ey), max(sx, ex), max(sy, ey))

    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event):
            return False
        self._start = self._end = self.level0(view, event.position())
        self._square = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        return True

    def mouse_move(self, view: SlideView, event: QMouseEvent) -> bool:
        if self._start is None:
            return False
        self._end = self.level0(view, event.position())
        self._square = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        view.update()
        return True

    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool:
        if self._start is None or not self.is_draw_button(event):
            return False
        self._end = self.level0(view, event.position())
        box = self.box()
        self.cancel()
        if box is not None:
            x0, y0, x1, y1 = box
            min_size = MIN_DRAG_PX * self.downsample(view)
            if x1 - x0 >= min_size and y1 - y0 >= min_size:
                made = self.session.add_shape(self.make_geometry(*box), self.shape_type, self.label)
                self.session.select([made.id])
        view.update()
        return True

    def cancel(self) -> None:
        self._start = self._end = None

    def paint_preview(self, painter: QPainter, scale: float) -> None:
        box = self.box()
        if box is None:
            return
        x0, y0, x1, y1 = box
        painter.setPen(cosmetic_pen(PREVIEW_COLOUR, 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        self.paint_shape(painter, QRectF(x0, y0, x1 - x0, y1 - y0))

    def paint_shape(self, painter: QPainter, rect: QRectF) -> None:
        painter.drawRect(rect)
