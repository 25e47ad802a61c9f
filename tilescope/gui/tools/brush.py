"""Brush tool (B): paint an area with a circle swept along the drag.

A stroke that touches the selected annotation is added to it (shapely union); otherwise it
becomes a new annotation. Alt while painting erases instead (QuPath). The radius is in screen
pixels, so the brush feels the same at every zoom; [ and ] make it smaller and larger.
The stroke is stored once, on release: one undo step per stroke.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import shapely
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.model import Annotation, ObjectKind
from tilescope.gui.annotations.drawing import cosmetic_pen
from tilescope.gui.annotations.qt_shapes import shapes_of
from tilescope.gui.tools.base import AnnotationTool
from tilescope.gui.tools.outline import area_shape_type, clean_area

if TYPE_CHECKING:
    from tilescope.gui.annotations.overlay_layer import AnnotationOverlay
    from tilescope.gui.annotations.session import AnnotationSession
    from tilescope.gui.viewer.slide_view import SlideView

DEFAULT_RADIUS_PX = 20.0
MIN_RADIUS_PX, MAX_RADIUS_PX = 2.0, 200.0
STEP_FRACTION = 0.25  # a new stroke point every quarter radius
BRUSH_COLOUR = QColor(255, 255, 255)
ERASER_COLOUR = QColor(255, 80, 80)


def stroke_area(points: list[tuple[float, float]], radius: float) -> BaseGeometry:
    """The area a circle of `radius` covers moving along `points` (level-0 pixels)."""
    if len(points) == 1:
        return shapely.Point(points[0]).buffer(radius, quad_segs=16)
    return shapely.LineString(points).buffer(radius, quad_segs=16)


def _is_area(annotation: Annotation) -> bool:
    return annotation.geometry.geom_type in ("Polygon", "MultiPolygon")


class BrushTool(AnnotationTool):
    label = "Brush"
    erases = False
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, session: AnnotationSession, overlay: AnnotationOverlay) -> None:
        super().__init__(session, overlay)
        self.radius_px = DEFAULT_RADIUS_PX
        self._points: list[tuple[float, float]] = []
        self._radius = 0.0
        self._erasing = False
        self._hover: tuple[float, float] | None = None
        self._preview: BaseGeometry | None = None

    # -- input --------------------------------------------------------------------------
    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event):
            return False
        self._radius = self.radius_px * self.downsample(view)
        self._erasing = self.erases or bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        self._points = [self.level0(view, event.position())]
        self._preview = stroke_area(self._points, self._radius)
        view.update()
        return True

    def mouse_move(self, view: SlideView, event: QMouseEvent) -> bool:
        point = self.level0(view, event.position())
        self._hover = point
        if not self._points:
            view.update()
            return False  # not painting: let the view pan with the middle button
        last = self._points[-1]
        if math.hypot(point[0] - last[0], point[1] - last[1]) >= STEP_FRACTION * self._radius:
            self._points.append(point)
            self._preview = stroke_area(self._points, self._radius)
        view.update()
        return True

    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self._points or not self.is_draw_button(event):
            return False
        self._points.append(self.level0(view, event.position()))
        stroke = stroke_area(self._points, self._radius)
        erasing = self._erasing
        self.cancel()
        if erasing:
            self.erase(stroke)
        else:
            self.paint(stroke)
        view.update()
        return True

    def key_press(self, view: SlideView, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_BracketLeft:
            self.radius_px = max(MIN_RADIUS_PX, self.radius_px / 1.25)
        elif event.key() == Qt.Key.Key_BracketRight:
            self.radius_px = min(MAX_RADIUS_PX, self.radius_px * 1.25)
        else:
            return super().key_press(view, event)
        view.update()
        return True

    def cancel(self) -> None:
        self._points = []
        self._preview = None

    # -- edits --------------------------------------------------------------------------
    def paint(self, stroke: BaseGeometry) -> None:
        """Add the stroke to the selected annotation it touches, or make a new one."""
        targets = [
            a
            for a in self.session.selected_objects()
            if a.kind == ObjectKind.ANNOTATION and _is_area(a) and a.geometry.intersects(stroke)
        ]
        if targets:
            target = targets[0]
            merged = clean_area(target.geometry.union(stroke))
            if merged is not None:
                self.session.update_objects(
                    [target.evolve(geometry=merged, shape_type=area_shape_type(merged))], "Brush"
                )
            return
        area = clean_area(stroke)
        if area is not None:
            made = self.session.add_shape(area, area_shape_type(area), "Brush")
            self.session.select([made.id])

    def erase(self, stroke: BaseGeometry) -> None:
        """Subtract the stroke from the selected annotations (none selected: from every
        visible annotation it touches); an object erased completely is deleted."""
        selected = [a for a in self.session.selected_objects() if _is_area(a)]
        if selected:
            targets = [a for a in selected if a.geometry.intersects(stroke)]
        else:
            targets = [
                a
                for a in self.session.store.query(stroke.bounds, kind=ObjectKind.ANNOTATION)
                if _is_area(a)
                and self.session.styles.is_visible(a.class_name)
                and a.geometry.intersects(stroke)
            ]
        if not targets:
            return
        history = self.session.history
        with history.group("Erase"):
            for target in targets:
                rest = clean_area(target.geometry.difference(stroke))
                if rest is None:
                    history.remove(target.id, "Erase")
                else:
                    history.update(
                        target.evolve(geometry=rest, shape_type=area_shape_type(rest)), "Erase"
                    )

    # -- preview ------------------------------------------------------------------------
    def paint_preview(self, painter: QPainter, scale: float) -> None:
        colour = ERASER_COLOUR if (self._erasing if self._points else self.erases) else BRUSH_COLOUR
        painter.setPen(cosmetic_pen(colour, 1.5))
        if self._preview is not None:
            fill = QColor(colour)
            fill.setAlpha(70)
            painter.setBrush(fill)
            shapes = shapes_of(shapely.get_parts(self._preview))
            for polygon in shapes.polygons:
                painter.drawPolygon(polygon)
            for path in shapes.paths:
                painter.drawPath(path)
        elif self._hover is not None:
            radius = self.radius_px / scale
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QPointF(*self._hover), radius, radius)
