"""Ellipse tool (O): drag the bounding box; Shift for a circle. Stored as a polygon (QuPath
keeps ellipses as ROIs; files and measurements need vertices, 64 are plenty)."""

from __future__ import annotations

import numpy as np
import shapely
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter
from shapely.geometry.base import BaseGeometry

from tilescope.gui.tools.drag_shape import DragShapeTool

ELLIPSE_VERTICES = 64


def ellipse_polygon(x0: float, y0: float, x1: float, y1: float) -> BaseGeometry:
    angles = np.linspace(0.0, 2 * np.pi, ELLIPSE_VERTICES, endpoint=False)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    return shapely.Polygon(np.column_stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)]))


class EllipseTool(DragShapeTool):
    shape_type = "ellipse"
    label = "Ellipse"

    def make_geometry(self, x0: float, y0: float, x1: float, y1: float) -> BaseGeometry:
        return ellipse_polygon(x0, y0, x1, y1)

    def paint_shape(self, painter: QPainter, rect: QRectF) -> None:
        painter.drawEllipse(rect)
