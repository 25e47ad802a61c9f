"""Rectangle tool (R): drag from corner to corner; Shift for a square."""

from __future__ import annotations

import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.gui.tools.drag_shape import DragShapeTool


class RectangleTool(DragShapeTool):
    shape_type = "rectangle"
    label = "Rectangle"

    def make_geometry(self, x0: float, y0: float, x1: float, y1: float) -> BaseGeometry:
        return shapely.box(x0, y0, x1, y1)
