"""Point tool (.): each click adds a point (QuPath's counting tool)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import shapely
from PySide6.QtGui import QMouseEvent

from tilescope.gui.tools.base import AnnotationTool

if TYPE_CHECKING:
    from tilescope.gui.viewer.slide_view import SlideView


class PointTool(AnnotationTool):
    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool:
        return self.is_draw_button(event)

    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event):
            return False
        x, y = self.level0(view, event.position())
        self.session.add_shape(shapely.Point(x, y), "point", "Point")
        view.update()
        return True

    def mouse_double_click(self, view: SlideView, event: QMouseEvent) -> bool:
        return self.is_draw_button(event)  # no zoom while counting
