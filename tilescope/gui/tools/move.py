"""Move tool (M), QuPath's default: drag a selected object to move the selection; drag
anywhere else pans; a click (no drag) selects the object under the cursor (Shift: toggle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely
from PySide6.QtCore import Qt
from PySide6.QtGui import QMouseEvent, QPainter

from tilescope.engine.annotations.model import Annotation
from tilescope.gui.annotations.drawing import draw_selection
from tilescope.gui.annotations.qt_shapes import shapes_of
from tilescope.gui.tools.base import AnnotationTool
from tilescope.gui.tools.select import click_select

if TYPE_CHECKING:
    from tilescope.gui.annotations.overlay_layer import AnnotationOverlay
    from tilescope.gui.annotations.session import AnnotationSession
    from tilescope.gui.viewer.slide_view import SlideView


class MoveTool(AnnotationTool):
    cursor = Qt.CursorShape.OpenHandCursor
    label = "Move"

    def __init__(self, session: AnnotationSession, overlay: AnnotationOverlay) -> None:
        super().__init__(session, overlay)
        self._press: tuple[float, float] | None = None  # widget pixels of a possible click
        self._grab: tuple[float, float] | None = None  # level-0 point where a move began
        self._moving: list[Annotation] = []
        self._offset = (0.0, 0.0)

    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event):
            return False
        self._press = (event.position().x(), event.position().y())
        x, y = self.level0(view, event.position())
        hit = self.session.object_at(x, y, self.downsample(view))
        if hit is not None and hit.id in self.session.selection:
            self._grab = (x, y)
            self._moving = self.session.selected_objects()
            self._offset = (0.0, 0.0)
            view.setCursor(Qt.CursorShape.ClosedHandCursor)
            return True
        return False  # the view pans; a release without a drag selects

    def mouse_move(self, view: SlideView, event: QMouseEvent) -> bool:
        if self._grab is None:
            return False
        x, y = self.level0(view, event.position())
        self._offset = (x - self._grab[0], y - self._grab[1])
        view.update()
        return True

    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event) or self._press is None:
            return False
        dragged = self.dragged_from(self._press, event)
        moving, grabbed = self._moving, self._grab is not None
        dx, dy = self._offset
        self.cancel()
        view.setCursor(self.cursor)
        if not dragged:
            click_select(self, view, event)
            return grabbed
        if grabbed and moving and (dx or dy):
            moved = [
                a.evolve(geometry=shapely.affinity.translate(a.geometry, dx, dy)) for a in moving
            ]
            self.session.update_objects(moved, "Move")
            view.update()
        return grabbed

    def cancel(self) -> None:
        self._press = None
        self._grab = None
        self._moving = []
        self._offset = (0.0, 0.0)

    def paint_preview(self, painter: QPainter, scale: float) -> None:
        if self._grab is None or not self._moving or self._offset == (0.0, 0.0):
            return
        dx, dy = self._offset
        painter.save()
        painter.translate(dx, dy)
        draw_selection(painter, shapes_of(_geometries(self._moving)), scale)
        painter.restore()


def _geometries(objects: list[Annotation]) -> np.ndarray:
    return np.array([a.geometry for a in objects], dtype=object)
