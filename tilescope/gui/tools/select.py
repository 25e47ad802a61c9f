"""Select tool (S): click an object to select it, drag a rubber band to select the objects
inside it; Shift adds to the selection (Shift+click toggles). A click on nothing clears."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter

from tilescope.gui.annotations.drawing import cosmetic_pen
from tilescope.gui.tools.base import MIN_DRAG_PX, AnnotationTool

if TYPE_CHECKING:
    from tilescope.gui.annotations.overlay_layer import AnnotationOverlay
    from tilescope.gui.annotations.session import AnnotationSession
    from tilescope.gui.viewer.slide_view import SlideView

BAND_COLOUR = QColor(255, 255, 0)


def click_select(tool: AnnotationTool, view: SlideView, event: QMouseEvent) -> None:
    """Select the object under the cursor (Shift: toggle it in the selection)."""
    x, y = tool.level0(view, event.position())
    hit = tool.session.object_at(x, y, tool.downsample(view))
    shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
    if hit is None:
        if not shift:
            tool.session.clear_selection()
    elif shift:
        tool.session.toggle(hit.id)
    else:
        tool.session.select([hit.id])
    view.update()


class SelectTool(AnnotationTool):
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, session: AnnotationSession, overlay: AnnotationOverlay) -> None:
        super().__init__(session, overlay)
        self._press: tuple[float, float] | None = None  # widget pixels
        self._band: tuple[float, float, float, float] | None = None  # level-0

    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event):
            return False
        self._press = (event.position().x(), event.position().y())
        return True

    def mouse_move(self, view: SlideView, event: QMouseEvent) -> bool:
        if self._press is None:
            return False
        px, py = self._press
        x, y = event.position().x(), event.position().y()
        if self._band is None and max(abs(x - px), abs(y - py)) < MIN_DRAG_PX:
            return True
        x0, y0 = view.transform.to_level0(px, py)
        x1, y1 = view.transform.to_level0(x, y)
        self._band = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        view.update()
        return True

    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool:
        if self._press is None or not self.is_draw_button(event):
            return False
        band = self._band
        self.cancel()
        if band is None:
            click_select(self, view, event)
            return True
        ids = self.session.objects_within(*band)
        add = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self.session.select(ids, add=add)
        view.update()
        return True

    def mouse_double_click(self, view: SlideView, event: QMouseEvent) -> bool:
        return self.is_draw_button(event)

    def cancel(self) -> None:
        self._press = None
        self._band = None

    def paint_preview(self, painter: QPainter, scale: float) -> None:
        if self._band is None:
            return
        x0, y0, x1, y1 = self._band
        pen = cosmetic_pen(BAND_COLOUR, 1.0)
        pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QColor(255, 255, 0, 30))
        painter.drawRect(QRectF(x0, y0, x1 - x0, y1 - y0))
