"""Drawing a batch of objects with QPainter: one pen and brush per class, then each shape.

Shared by the on-screen vector pass and the raster-tile workers (QPainter on a QImage is safe
in any thread), so both look the same. Coordinates are level-0 pixels under the painter's
transform; pens are cosmetic so line widths stay in screen (or tile) pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from tilescope.engine.annotations.model import ObjectKind
from tilescope.gui.annotations.qt_shapes import ShapeBatch
from tilescope.gui.annotations.styles import StyleTable

ANNOTATION_LINE_PX = 2.0
DETECTION_LINE_PX = 1.0
ANNOTATION_FILL_ALPHA = 28  # a faint fill shows holes and which side is inside
DETECTION_FILL_ALPHA = 96  # detections: filled with the class colour at opacity
POINT_RADIUS_PX = 5.0  # screen pixels, at every zoom (QuPath's default point radius)
POINT_OUTLINE = QColor(20, 20, 20, 220)  # dark: visible on brightfield's white background
POINT_OUTLINE_PX = 1.5
SELECTION_COLOUR = QColor(255, 255, 0)  # QuPath's selection highlight
SELECTION_LINE_PX = 3.0


def cosmetic_pen(colour: QColor, width: float) -> QPen:
    pen = QPen(colour, width)
    pen.setCosmetic(True)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def group_codes(
    class_names: Sequence[str | None], kinds: Sequence[str]
) -> tuple[np.ndarray, list[tuple[str | None, str]]]:
    """Each object's (class, kind) group number and the groups in first-seen order."""
    groups: dict[tuple[str | None, str], int] = {}
    codes = np.fromiter(
        (groups.setdefault((c, k), len(groups)) for c, k in zip(class_names, kinds, strict=True)),
        dtype=np.int64,
        count=len(kinds),
    )
    return codes, list(groups)


def draw_objects(
    painter: QPainter,
    shapes: ShapeBatch,
    class_names: Sequence[str | None],
    kinds: Sequence[str],
    styles: StyleTable,
    scale: float,
    visible_items: dict[str, np.ndarray] | None = None,
    groups: tuple[np.ndarray, list[tuple[str | None, str]]] | None = None,
) -> None:
    """Draw every object of `shapes` in its class style (hidden classes are skipped).

    `scale` is output pixels per level-0 pixel (for point markers); `visible_items` may hold,
    per item list, a boolean mask of the items worth drawing (e.g. those in the viewport);
    `groups` is `group_codes(class_names, kinds)` when the caller keeps it between frames.
    """
    codes, group_list = groups if groups is not None else group_codes(class_names, kinds)
    base_opacity = painter.opacity()
    radius = POINT_RADIUS_PX / scale
    masks = visible_items or {}
    for number, (name, kind) in enumerate(group_list):
        style = styles.style(name)
        if not style.visible or style.opacity <= 0:
            continue
        painter.setOpacity(base_opacity * style.opacity)
        detection = kind == ObjectKind.DETECTION.value
        painter.setPen(
            cosmetic_pen(style.qcolor(), DETECTION_LINE_PX if detection else ANNOTATION_LINE_PX)
        )
        painter.setBrush(style.qcolor(DETECTION_FILL_ALPHA if detection else ANNOTATION_FILL_ALPHA))
        for index in _members(codes, shapes.polygon_owner, number, masks.get("polygons")):
            painter.drawPolygon(shapes.polygons[index])
        for index in _members(codes, shapes.path_owner, number, masks.get("paths")):
            painter.drawPath(shapes.paths[index])
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for index in _members(codes, shapes.line_owner, number, masks.get("lines")):
            painter.drawPolyline(shapes.lines[index])
        point_items = _members(codes, shapes.point_owner, number, masks.get("points"))
        if point_items:
            painter.setBrush(style.qcolor())
            painter.setPen(cosmetic_pen(POINT_OUTLINE, POINT_OUTLINE_PX))
            for index in point_items:
                painter.drawEllipse(shapes.points[index], radius, radius)
    painter.setOpacity(base_opacity)


def draw_selection(painter: QPainter, shapes: ShapeBatch, scale: float) -> None:
    """Outline selected objects in the selection colour, on top of everything."""
    painter.setPen(cosmetic_pen(SELECTION_COLOUR, SELECTION_LINE_PX))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for polygon in shapes.polygons:
        painter.drawPolygon(polygon)
    for path in shapes.paths:
        painter.drawPath(path)
    for line in shapes.lines:
        painter.drawPolyline(line)
    radius = (POINT_RADIUS_PX + 2) / scale
    for point in shapes.points:
        painter.drawEllipse(QPointF(point), radius, radius)


def _members(
    codes: np.ndarray, owners: np.ndarray, group: int, mask: np.ndarray | None
) -> list[int]:
    if len(owners) == 0:
        return []
    hits = codes[owners] == group
    if mask is not None:
        hits &= mask
    return np.flatnonzero(hits).tolist()
