"""Edit-vertices tool (E): drag a vertex of the selected object (handles are drawn on it);
elsewhere it behaves like the Move tool (click selects, drag pans)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.model import Annotation, ShapeType
from tilescope.gui.annotations.drawing import cosmetic_pen, draw_selection
from tilescope.gui.annotations.qt_shapes import shapes_of
from tilescope.gui.tools.base import AnnotationTool
from tilescope.gui.tools.outline import area_shape_type, clean_area
from tilescope.gui.tools.select import click_select

if TYPE_CHECKING:
    from tilescope.gui.annotations.overlay_layer import AnnotationOverlay
    from tilescope.gui.annotations.session import AnnotationSession
    from tilescope.gui.viewer.slide_view import SlideView

HANDLE_PX = 4.0  # half the side of a vertex handle
GRAB_PX = 7.0  # how close a press must be to a vertex
MAX_HANDLES = 5000  # more vertices than this (a huge traced region): no handles drawn
HANDLE_COLOUR = QColor(255, 255, 0)


def move_vertex(
    geometry: BaseGeometry, vertex: tuple[float, float], to: tuple[float, float]
) -> BaseGeometry:
    """The geometry with every coordinate equal to `vertex` (a ring's first and closing
    point are the same) moved to `to`."""
    coords = shapely.get_coordinates(geometry)
    same = (coords[:, 0] == vertex[0]) & (coords[:, 1] == vertex[1])
    coords[same] = to
    # set_coordinates works in place: change a copy, never the stored (immutable) value.
    copy = shapely.from_wkb(shapely.to_wkb(geometry))
    return shapely.set_coordinates(copy, coords)


class EditVerticesTool(AnnotationTool):
    cursor = Qt.CursorShape.PointingHandCursor
    label = "Edit vertices"

    def __init__(self, session: AnnotationSession, overlay: AnnotationOverlay) -> None:
        super().__init__(session, overlay)
        self._press: tuple[float, float] | None = None
        self._target: Annotation | None = None
        self._vertex: tuple[float, float] | None = None
        self._edited: BaseGeometry | None = None

    def _selected_single(self) -> Annotation | None:
        selected = self.session.selected_objects()
        return selected[0] if len(selected) == 1 else None

    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event):
            return False
        self._press = (event.position().x(), event.position().y())
        target = self._selected_single()
        if target is None:
            return False
        x, y = self.level0(view, event.position())
        coords = shapely.get_coordinates(target.geometry)
        if not len(coords):
            return False
        distances = np.hypot(coords[:, 0] - x, coords[:, 1] - y)
        nearest = int(np.argmin(distances))
        if distances[nearest] > GRAB_PX * self.downsample(view):
            return False
        self._target = target
        self._vertex = (float(coords[nearest, 0]), float(coords[nearest, 1]))
        self._edited = target.geometry
        return True

    def mouse_move(self, view: SlideView, event: QMouseEvent) -> bool:
        if self._target is None or self._vertex is None:
            if self._press is None:
                view.update()  # handles follow the selection
            return False
        to = self.level0(view, event.position())
        self._edited = move_vertex(self._target.geometry, self._vertex, to)
        view.update()
        return True

    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event) or self._press is None:
            return False
        dragged = self.dragged_from(self._press, event)
        target, edited = self._target, self._edited
        self.cancel()
        if target is None:
            if not dragged:
                click_select(self, view, event)
            return False
        if dragged and edited is not None:
            geometry = edited
            if target.geometry.geom_type in ("Polygon", "MultiPolygon"):
                geometry = clean_area(edited)
            if geometry is not None:
                shape = target.shape_type
                if shape in ("rectangle", "ellipse"):
                    shape = ShapeType(area_shape_type(geometry))
                self.session.update_objects(
                    [target.evolve(geometry=geometry, shape_type=shape)], "Edit vertices"
                )
        view.update()
        return True

    def cancel(self) -> None:
        self._press = None
        self._target = None
        self._vertex = None
        self._edited = None

    def paint_preview(self, painter: QPainter, scale: float) -> None:
        if self._target is not None and self._edited is not None:
            draw_selection(painter, shapes_of(np.array([self._edited], dtype=object)), scale)
            geometry = self._edited
        else:
            target = self._selected_single() if self.session.selection else None
            if target is None:
                return
            geometry = target.geometry
        coords = shapely.get_coordinates(geometry)
        if len(coords) > MAX_HANDLES:
            return
        half = HANDLE_PX / scale
        painter.setPen(cosmetic_pen(QColor(0, 0, 0), 1.0))
        painter.setBrush(HANDLE_COLOUR)
        for x, y in coords.tolist():
            painter.drawRect(QRectF(QPointF(x - half, y - half), QPointF(x + half, y + half)))
