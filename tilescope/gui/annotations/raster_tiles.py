"""Overlay tiles: when too many objects are visible to draw each frame, draw them once into
transparent QImage tiles in worker threads, cache the tiles, and paint the tiles.

A tile is 512 x 512 pixels at a power-of-two downsample no coarser than the view's, so it is
shown at most 2x reduced (sharp). Tiles remember the store and style generations they were
drawn for; stale tiles keep being shown until their replacement arrives (no flicker while a
model writes detections), and missing ones are stood in for by their parent tile.
"""

from __future__ import annotations

import logging
import math
from functools import partial

import numpy as np
import shapely
from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QTransform

from tilescope.engine.annotations.model import ObjectKind
from tilescope.engine.annotations.store import AnnotationStore, DisplayBatch
from tilescope.engine.byte_lru import ByteLRU
from tilescope.gui.annotations.drawing import cosmetic_pen, draw_objects
from tilescope.gui.annotations.qt_shapes import polygons_from_rings, shapes_of
from tilescope.gui.annotations.styles import StyleTable
from tilescope.gui.workers import KeyedExecutor, function_worker

log = logging.getLogger(__name__)

TILE_PX = 512
MAX_TILE_BYTES = 96 * TILE_PX * TILE_PX * 4  # 96 ARGB tiles, ~100 MB
DOT_PX = 3.0  # detections smaller than this (tile pixels) are drawn as dots
_POINT_TYPES = (0, 4)  # shapely type ids of Point and MultiPoint
TileKey = tuple[int, int, int]  # (log2 downsample, column, row)
Stamp = tuple[int, int]  # (store generation, times this tile's area was edited since)


def tile_level(downsample: float) -> int:
    """The tile pyramid level for a view downsample: 2**level <= downsample."""
    return math.floor(math.log2(max(downsample, 1e-9)) + 1e-9)


def tile_rect(key: TileKey) -> QRectF:
    """A tile's level-0 rectangle."""
    level, column, row = key
    span = TILE_PX * 2.0**level
    return QRectF(column * span, row * span, span, span)


def visible_keys(viewport: QRectF, level: int) -> list[TileKey]:
    span = TILE_PX * 2.0**level
    c0, r0 = math.floor(viewport.left() / span), math.floor(viewport.top() / span)
    c1, r1 = math.floor(viewport.right() / span), math.floor(viewport.bottom() / span)
    return [(level, c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]


def render_tile(store: AnnotationStore, key: TileKey, styles: StyleTable) -> QImage:
    """Draw every visible object meeting the tile into a transparent image (any thread)."""
    rect = tile_rect(key)
    downsample = 2.0 ** key[0]
    bbox = (rect.left(), rect.top(), rect.right(), rect.bottom())
    annotations = store.query_display(bbox, kind=ObjectKind.ANNOTATION)
    # Detections under half a tile pixel would not show: the store skips them in SQL.
    detections = store.query_display(bbox, kind=ObjectKind.DETECTION, min_size=downsample / 2)
    image = QImage(TILE_PX, TILE_PX, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setTransform(
            QTransform(
                1 / downsample,
                0,
                0,
                1 / downsample,
                -rect.left() / downsample,
                -rect.top() / downsample,
            )
        )
        small = _draw_dots(painter, detections, styles, downsample)
        big = ~small
        _draw_batch(painter, detections, big, styles, 1 / downsample)
        _draw_batch(painter, annotations, None, styles, 1 / downsample)
    finally:
        painter.end()
    return image


def _draw_batch(
    painter: QPainter,
    batch: DisplayBatch,
    keep: np.ndarray | None,
    styles: StyleTable,
    scale: float,
) -> None:
    if not batch.ids:
        return
    visible = np.fromiter(
        (styles.is_visible(c) for c in batch.class_names), dtype=bool, count=len(batch.ids)
    )
    if keep is not None:
        visible &= keep
    rows = np.flatnonzero(visible)
    if not len(rows):
        return
    shapes = shapes_of(batch.geometries[rows])
    names = [batch.class_names[i] for i in rows.tolist()]
    kinds = [batch.kinds[i] for i in rows.tolist()]
    draw_objects(painter, shapes, names, kinds, styles, scale)


def _draw_dots(
    painter: QPainter, batch: DisplayBatch, styles: StyleTable, downsample: float
) -> np.ndarray:
    """Detections a few pixels across as one dot each (one draw call per class); returns
    which objects were drawn so."""
    if not batch.ids:
        return np.zeros(0, dtype=bool)
    bounds = shapely.bounds(batch.geometries)
    size = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    # Points stay markers (a fixed size with an outline, by `draw_objects`), never dots.
    small = size < DOT_PX * downsample
    small &= ~np.isin(shapely.get_type_id(batch.geometries), _POINT_TYPES)
    if not small.any():
        return small
    cx = (bounds[:, 0] + bounds[:, 2]) / 2
    cy = (bounds[:, 1] + bounds[:, 3]) / 2
    names = np.array(batch.class_names, dtype=object)
    base_opacity = painter.opacity()
    for name in set(names[small].tolist()):
        style = styles.style(name)
        if not style.visible or style.opacity <= 0:
            continue
        rows = np.flatnonzero(small & (names == name))
        painter.setOpacity(base_opacity * style.opacity)
        painter.setPen(cosmetic_pen(style.qcolor(), 2.0))
        xy = np.column_stack([cx[rows], cy[rows]])
        dots = polygons_from_rings(xy, np.zeros(len(rows), dtype=np.int64), 1)[0]
        painter.drawPoints(dots)
    painter.setOpacity(base_opacity)
    return small


_Tile = tuple[Stamp, int, QImage]  # the stamp and style generation it was drawn for, and it


def _tile_bytes(tile: _Tile) -> int:
    return int(tile[2].sizeInBytes())


class RasterTiles(QObject):
    """A cache of overlay tiles with background rendering; `tile_ready` asks for a repaint."""

    tile_ready = Signal()

    def __init__(self, store: AnnotationStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        # Keyed by tile, tagged by (Stamp, style generation): a tile asked for again with
        # newer data or styles supersedes the older drawing.
        self._executor: KeyedExecutor[TileKey] = KeyedExecutor(2, "tilescope-overlay")
        self._tiles: ByteLRU[TileKey, _Tile] = ByteLRU(MAX_TILE_BYTES, _tile_bytes)
        self._dirty: dict[TileKey, int] = {}
        self.rendered_count = 0  # tiles drawn by the workers so far (tests, statistics)
        self._wanted: set[TileKey] = set()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._tiles.clear()

    def paint(
        self,
        painter: QPainter,
        viewport: QRectF,
        downsample: float,
        data_generation: int,
        styles: StyleTable,
    ) -> bool:
        """Draw cached tiles for the viewport, asking for any missing or stale ones.

        Returns True when every visible tile is current."""
        level = tile_level(downsample)
        keys = visible_keys(viewport, level)
        self._wanted = set(keys)
        complete = True
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        for key in keys:
            entry = self._tiles.peek(key)
            stamp = (data_generation, self._dirty.get(key, 0))
            current = entry is not None and entry[:2] == (stamp, styles.generation)
            if not current:
                complete = False
                self._request(key, stamp, styles)
            if entry is None:
                self._paint_parent(painter, key)
                continue
            self._tiles.get(key)  # marks it used
            painter.drawImage(tile_rect(key), entry[2])
        return complete

    def invalidate_region(self, bbox: tuple[float, float, float, float]) -> None:
        """Redraw the tiles (any level) meeting a level-0 box: a local edit re-renders a
        tile or two instead of the whole view; the old tiles stay shown meanwhile."""
        x0, y0, x1, y1 = bbox
        keys = set(self._tiles) | self._executor.keys()
        for key in keys:
            rect = tile_rect(key)
            if (
                rect.left() <= x1
                and rect.right() >= x0
                and rect.top() <= y1
                and rect.bottom() >= y0
            ):
                self._dirty[key] = self._dirty.get(key, 0) + 1

    def _paint_parent(self, painter: QPainter, key: TileKey) -> None:
        level, column, row = key
        for up in range(1, 4):
            parent = (level + up, column >> up, row >> up)
            entry = self._tiles.peek(parent)
            if entry is None:
                continue
            painter.save()
            painter.setClipRect(tile_rect(key), Qt.ClipOperation.IntersectClip)
            painter.drawImage(tile_rect(parent), entry[2])
            painter.restore()
            return

    def _request(self, key: TileKey, stamp: Stamp, styles: StyleTable) -> None:
        tag = (stamp, styles.generation)
        if self._executor.in_hand(key, tag):
            return
        worker = function_worker(self._work, key, styles.snapshot())
        worker.on_returned(partial(self._on_rendered, key, stamp, styles.generation))
        self._executor.submit(worker, key=key, tag=tag)

    def _work(self, key: TileKey, styles: StyleTable) -> QImage | None:
        if key not in self._wanted:
            return None
        try:
            return render_tile(self._store, key, styles)
        except Exception as error:  # a closed store, a busy file: skip this tile
            log.debug("overlay tile %s: %s", key, error)
            return None

    def _on_rendered(
        self, key: TileKey, stamp: Stamp, style_generation: int, image: QImage | None
    ) -> None:
        if image is None:
            return
        self.rendered_count += 1
        old = self._tiles.peek(key)
        if old is not None and old[:2] > (stamp, style_generation):
            return
        self._tiles.put(key, (stamp, style_generation, image))
        self.tile_ready.emit()
