"""The annotation overlay of a slide view: draws only what the viewport's spatial query returns.

Per frame the work is bounded:
- Vector mode (up to `VECTOR_LIMIT` objects near the viewport): the store is queried once for
  a padded viewport and the objects are converted to Qt shapes once; panning inside the
  padding and repainting reuse them, and only shapes whose box meets the viewport are drawn.
- Raster mode (more objects than that, i.e. zoomed out over many detections): pre-drawn tiles
  from worker threads (`RasterTiles`).
Selected objects are outlined on top, then the active tool's preview.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import shapely
from PySide6.QtCore import QObject, QRectF, Signal
from PySide6.QtGui import QPainter

from tilescope.engine.annotations.events import ChangeEvent
from tilescope.engine.annotations.model import ObjectKind
from tilescope.gui.annotations.drawing import draw_objects, draw_selection, group_codes
from tilescope.gui.annotations.qt_shapes import ShapeBatch, shapes_of
from tilescope.gui.annotations.raster_tiles import RasterTiles
from tilescope.gui.annotations.session import AnnotationSession

VECTOR_LIMIT = 2000  # objects in the padded viewport drawn one by one each frame
LOCAL_EDIT_LIMIT = 2000  # edits touching more objects redraw every overlay tile
MAX_KNOWN_BOUNDS = 200_000
BBox = tuple[float, float, float, float]
VIEWPORT_PADDING = 0.1  # fetch this fraction of the viewport extra on each side


class ToolPreview(Protocol):
    def paint_preview(self, painter: QPainter, scale: float) -> None: ...


@dataclass
class _VectorCache:
    bbox: tuple[float, float, float, float]
    zoom: int
    generation: int
    too_many: bool
    shapes: ShapeBatch | None = None
    class_names: list[str | None] | None = None
    kinds: list[str] | None = None
    item_bounds: dict[str, np.ndarray] | None = None
    groups: tuple[np.ndarray, list[tuple[str | None, str]]] | None = None


class AnnotationOverlay(QObject):
    """`OverlayLayer` for one session. `repaint_needed` fires when the view should redraw."""

    repaint_needed = Signal()

    def __init__(self, session: AnnotationSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.visible = True
        self.opacity = 1.0
        self.preview: ToolPreview | None = None
        self.vector_limit = VECTOR_LIMIT
        self.last_mode = "none"  # "vector" or "raster": what the last frame used (tests, stats)
        self.last_complete = False  # the last frame drew everything (no tile still coming)
        self._generation = 0
        # Boxes of objects seen lately (drawn, selected, edited): where a local edit was.
        self._known_bounds: dict[str, BBox] = {}
        self._cache: _VectorCache | None = None
        self._selection: ShapeBatch | None = None
        self.tiles = RasterTiles(session.store, self)
        self.tiles.tile_ready.connect(self.repaint_needed)
        session.store_changed.connect(self._on_store_changed)
        session.styles_changed.connect(self.repaint_needed)
        session.selection_changed.connect(self._on_selection_changed)

    def close(self) -> None:
        self.tiles.close()

    def invalidate(self) -> None:
        """Forget the shapes fetched for the last viewport (the next frame queries again)."""
        self._cache = None
        self._selection = None

    def set_opacity(self, opacity: float) -> None:
        self.opacity = min(max(opacity, 0.0), 1.0)
        self.repaint_needed.emit()

    def set_visible(self, visible: bool) -> None:
        self.visible = visible
        self.repaint_needed.emit()

    def _on_store_changed(self, event: ChangeEvent) -> None:
        self._cache = None
        self._selection = None
        regions = self._changed_regions(event)
        if regions is None:
            self._generation += 1  # every tile is redrawn (old ones shown meanwhile)
            self._known_bounds.clear()
        else:
            for box in regions:
                self.tiles.invalidate_region(box)
        self.repaint_needed.emit()

    def _changed_regions(self, event: ChangeEvent) -> list[BBox] | None:
        """Level-0 boxes an edit touched (old and new places), or None when unknown (edits
        by another process, big batches, objects never seen)."""
        touched = event.added | event.updated
        if (
            event.external
            or event.runs_changed  # a model run hidden or shown: anything may change
            or len(touched) + len(event.removed) > LOCAL_EDIT_LIMIT
        ):
            return None
        known = self._known_bounds
        if any(i not in known for i in event.removed | event.updated):
            return None
        boxes = [known.pop(i) for i in event.removed]
        boxes += [known[i] for i in event.updated]
        for annotation in self.session.store.get_many(touched):
            box = annotation.geometry.bounds
            known[annotation.id] = box
            boxes.append(box)
        return boxes

    def _remember_bounds(self, ids: list[str], bounds: np.ndarray) -> None:
        if len(self._known_bounds) > MAX_KNOWN_BOUNDS:
            self._known_bounds.clear()
        self._known_bounds.update(zip(ids, map(tuple, bounds.tolist()), strict=True))

    def _on_selection_changed(self) -> None:
        self._selection = None
        self.repaint_needed.emit()

    # -- painting -----------------------------------------------------------------------
    def paint(self, painter: QPainter, viewport: QRectF, scale: float) -> None:
        if self.session.closed:
            return
        downsample = 1.0 / scale
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        cache = self._vector_for(viewport, downsample)
        if cache.too_many:
            self.last_mode = "raster"
            self.last_complete = self.tiles.paint(
                painter, viewport, downsample, self._generation, self.session.styles
            )
        else:
            self.last_mode = "vector"
            self.last_complete = True
            self._paint_vector(painter, cache, viewport, scale)
        painter.setOpacity(1.0)
        selection = self._selection_shapes()
        if selection is not None:
            draw_selection(painter, selection, scale)
        if self.preview is not None:
            self.preview.paint_preview(painter, scale)

    def _paint_vector(
        self, painter: QPainter, cache: _VectorCache, viewport: QRectF, scale: float
    ) -> None:
        if cache.shapes is None or cache.class_names is None or cache.kinds is None:
            return
        masks = {}
        x0, y0, x1, y1 = viewport.left(), viewport.top(), viewport.right(), viewport.bottom()
        for name, bounds in (cache.item_bounds or {}).items():
            masks[name] = (
                (bounds[:, 0] <= x1)
                & (bounds[:, 2] >= x0)
                & (bounds[:, 1] <= y1)
                & (bounds[:, 3] >= y0)
            )
        if cache.groups is None:
            cache.groups = group_codes(cache.class_names, cache.kinds)
        draw_objects(
            painter,
            cache.shapes,
            cache.class_names,
            cache.kinds,
            self.session.styles,
            scale,
            masks,
            cache.groups,
        )

    def _vector_for(self, viewport: QRectF, downsample: float) -> _VectorCache:
        zoom = math.floor(2 * math.log2(max(downsample, 1e-9)))  # half-octave steps
        cache = self._cache
        if (
            cache is not None
            and cache.zoom == zoom
            and cache.generation == self._generation
            and cache.bbox[0] <= viewport.left()
            and cache.bbox[1] <= viewport.top()
            and cache.bbox[2] >= viewport.right()
            and cache.bbox[3] >= viewport.bottom()
        ):
            return cache
        if (
            cache is not None
            and cache.too_many
            and cache.zoom == zoom
            and cache.generation == self._generation
        ):
            # Panning at a zoom already too dense: stay with tiles (they draw everything
            # too) instead of asking the store again on every step.
            return cache
        pad_x, pad_y = viewport.width() * VIEWPORT_PADDING, viewport.height() * VIEWPORT_PADDING
        bbox = (
            viewport.left() - pad_x,
            viewport.top() - pad_y,
            viewport.right() + pad_x,
            viewport.bottom() + pad_y,
        )
        self._cache = cache = self._query(bbox, zoom, downsample)
        return cache

    def _query(
        self, bbox: tuple[float, float, float, float], zoom: int, downsample: float
    ) -> _VectorCache:
        # One query that stops after `limit + 1` rows: bounded work whatever the zoom, and
        # the answer to "too many to draw one by one?" at the same time.
        limit = self.vector_limit
        batch = self.session.store.query_display(bbox, limit=limit + 1)
        if len(batch.ids) > limit:
            return _VectorCache(bbox, zoom, self._generation, True)
        # Detections first, hand-drawn annotations on top.
        kinds = np.array(batch.kinds, dtype=object)
        order = np.argsort(kinds != ObjectKind.DETECTION.value, kind="stable")
        geoms = batch.geometries[order] if len(order) else batch.geometries
        shapes = shapes_of(geoms)
        bounds = shapely.bounds(geoms) if len(geoms) else np.empty((0, 4))
        self._remember_bounds([batch.ids[i] for i in order.tolist()], bounds)
        return _VectorCache(
            bbox,
            zoom,
            self._generation,
            False,
            shapes,
            [batch.class_names[i] for i in order.tolist()],
            [batch.kinds[i] for i in order.tolist()],
            _item_bounds(shapes, bounds),
        )

    def _selection_shapes(self) -> ShapeBatch | None:
        if not self.session.selection:
            return None
        if self._selection is None:
            objects = self.session.selected_objects()
            geoms = np.array([a.geometry for a in objects], dtype=object)
            self._selection = shapes_of(geoms)
            if len(geoms):
                self._remember_bounds([a.id for a in objects], shapely.bounds(geoms))
        return self._selection


def _item_bounds(shapes: ShapeBatch, bounds: np.ndarray) -> dict[str, np.ndarray]:
    """Each drawn item's level-0 box (that of its object), to skip items off screen."""
    return {
        "polygons": bounds[shapes.polygon_owner],
        "paths": bounds[shapes.path_owner],
        "lines": bounds[shapes.line_owner],
        "points": bounds[shapes.point_owner],
    }
