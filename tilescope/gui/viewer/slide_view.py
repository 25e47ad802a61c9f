"""The slide canvas: a QWidget that draws pyramid tiles, overlays, and hands input to tools.

Painting never touches the file: it draws the paint-ready QImages the tile loader delivered
and, for each tile still missing, a stand-in (the finest cached coarser tile, else the resident
overview), so the view is never blank (see FramePainter). Requests go out whenever the view
moves, replacing the previous ones: newest first, stale ones dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QEvent, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QHideEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QNativeGestureEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGestureEvent, QPinchGesture, QWidget

from tilescope.engine.settings import settings
from tilescope.engine.slide import SlideSource
from tilescope.gui.viewer.frame_painter import BACKDROP, FramePainter
from tilescope.gui.viewer.image_cache import ImageCache
from tilescope.gui.viewer.magnification import device_downsample_for, format_zoom, magnification
from tilescope.gui.viewer.overlay import OverlayLayer
from tilescope.gui.viewer.render import DisplaySettings
from tilescope.gui.viewer.tile_layout import TileKey, level_for
from tilescope.gui.viewer.tile_loader import TileLoader
from tilescope.gui.viewer.view_tool import ViewTool
from tilescope.gui.viewer.view_transform import ViewTransform
from tilescope.gui.workers import function_worker

WHEEL_STEPS_PER_DOUBLING = 4.0  # four wheel notches zoom by 2x
KEY_ZOOM = math.sqrt(2.0)
MIN_DEVICE_DOWNSAMPLE = 1 / 32  # at most 32 device pixels per slide pixel
SETTLE_MS = 150  # after the last move, repaint with smooth filtering


class SlideView(QWidget):
    """One slide, one view. Coordinates through `transform` (level-0 <-> widget)."""

    transform_changed = Signal(object)  # ViewTransform
    cursor_moved = Signal(object)  # (x, y) in level-0 pixels, or None when outside
    loading_changed = Signal(int)  # tiles pending
    view_complete = Signal()  # every visible tile at the right level is drawn
    display_changed = Signal(object)  # DisplaySettings (chosen automatically or set)
    overview_changed = Signal()  # the resident low-resolution image was (re)rendered
    tile_error = Signal(str)

    def __init__(
        self,
        source: SlideSource,
        parent: QWidget | None = None,
        *,
        image_cache_bytes: int | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAcceptDrops(False)  # files dropped here go to the window
        self.grabGesture(Qt.GestureType.PinchGesture)
        self.setMinimumSize(64, 64)
        self._source = source
        meta = source.metadata
        if image_cache_bytes is None:
            image_cache_bytes = int(settings().view_image_cache_mb) * 1024 * 1024
        self._images = ImageCache(image_cache_bytes)
        self._frame = FramePainter(source, self._images)
        self._overview_generation = -1
        self._failed: set[TileKey] = set()
        self._dpr_override: float | None = None
        self._transform = ViewTransform.fit(meta.width, meta.height, 640, 480)
        self._fitted = True  # follow the window size until the user moves the view
        self._overlays: list[OverlayLayer] = []
        self._tool: ViewTool | None = None
        self._drag_last: QPointF | None = None
        self._closing = False
        self._was_complete = False
        self._loader = TileLoader(source, threads, parent=self)
        self._loader.tile_ready.connect(self._on_tile_ready)
        self._loader.tile_failed.connect(self._on_tile_failed)
        self._loader.overview_ready.connect(self._on_overview_ready)
        self._loader.display_ready.connect(self.display_changed)
        self._loader.pending_changed.connect(self.loading_changed)
        # A view deleted without close_slide() must not leave workers emitting into the void.
        self.destroyed.connect(_stopper(self._loader))
        self._request_timer = QTimer(self)
        self._request_timer.setSingleShot(True)
        self._request_timer.setInterval(0)  # coalesce many moves within one event-loop turn
        self._request_timer.timeout.connect(self._request_tiles)
        # While the view moves, frames are drawn with nearest-neighbour scaling (half the
        # cost); once it rests, one smooth repaint follows.
        self._moving = False
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(SETTLE_MS)
        self._settle_timer.timeout.connect(self._settle)
        self._loader.request_overview()
        self._request_timer.start()

    # -- public API ---------------------------------------------------------------------
    @property
    def source(self) -> SlideSource:
        return self._source

    @property
    def transform(self) -> ViewTransform:
        return self._transform

    @property
    def loader(self) -> TileLoader:
        return self._loader

    @property
    def image_cache(self) -> ImageCache:
        return self._images

    def overview_image(self) -> QImage | None:
        """The whole slide at low resolution (resident), once loaded."""
        return self._frame.overview

    def set_transform(self, transform: ViewTransform, *, user: bool = True) -> None:
        """Move the view. The zoom is clamped and the centre kept on the slide.

        A transform with a NaN or infinite value (from a script, a file, a broken gesture) is
        ignored: painting with it would end in a native crash.
        """
        if not _finite(transform):
            return
        meta = self._source.metadata
        fit = ViewTransform.fit(meta.width, meta.height, transform.width, transform.height)
        lowest = MIN_DEVICE_DOWNSAMPLE * transform.dpr
        downsample = min(max(transform.downsample, lowest), fit.downsample * 8)
        if downsample != transform.downsample:
            transform = ViewTransform(
                transform.center_x,
                transform.center_y,
                downsample,
                transform.width,
                transform.height,
                transform.dpr,
            )
        transform = transform.centered_on(
            min(max(transform.center_x, 0.0), float(meta.width)),
            min(max(transform.center_y, 0.0), float(meta.height)),
        )
        if user:
            self._fitted = False
        if transform == self._transform:
            return
        self._transform = transform
        self._was_complete = False
        if user:
            self._moving = True
            self._settle_timer.start()
        self._request_timer.start()
        self.update()
        self.transform_changed.emit(transform)

    def fit(self) -> None:
        meta = self._source.metadata
        t = self._transform
        self.set_transform(ViewTransform.fit(meta.width, meta.height, t.width, t.height, t.dpr))
        self._fitted = True

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Magnify by `factor` (>1 zooms in), keeping the slide point under `anchor` still."""
        t = self._transform
        point = (anchor.x(), anchor.y()) if anchor is not None else None
        self.set_transform(t.zoomed_to(t.downsample / factor, point))

    def zoom_to_device_downsample(self, device_downsample: float) -> None:
        t = self._transform
        self.set_transform(t.zoomed_to(device_downsample * t.dpr))

    def zoom_one_to_one(self) -> None:
        """One slide pixel per device pixel."""
        self.zoom_to_device_downsample(1.0)

    def zoom_to_magnification(self, target: float) -> bool:
        """Objective-equivalent zoom (e.g. 20x); False when the slide has no mpp/objective."""
        device_downsample = device_downsample_for(self._source.metadata, target)
        if device_downsample is None:
            return False
        self.zoom_to_device_downsample(device_downsample)
        return True

    def center_on(self, x: float, y: float) -> None:
        self.set_transform(self._transform.centered_on(x, y))

    def pan_by(self, dx: float, dy: float) -> None:
        self.set_transform(self._transform.panned_by(dx, dy))

    def magnification(self) -> float | None:
        return magnification(self._source.metadata, self._transform.device_downsample)

    def zoom_text(self) -> str:
        return format_zoom(self._source.metadata, self._transform.device_downsample)

    def set_device_pixel_ratio(self, dpr: float | None) -> None:
        """Render for this device pixel ratio (off-screen rendering); None follows the screen."""
        if dpr is not None and not (math.isfinite(dpr) and dpr > 0):
            dpr = None
        self._dpr_override = dpr
        self._sync_size()

    # overlays and tools
    def add_overlay(self, layer: OverlayLayer) -> None:
        self._overlays.append(layer)
        self.update()

    def remove_overlay(self, layer: OverlayLayer) -> None:
        self._overlays = [x for x in self._overlays if x is not layer]
        self.update()

    def overlays(self) -> list[OverlayLayer]:
        return list(self._overlays)

    @property
    def tool(self) -> ViewTool | None:
        return self._tool

    def set_tool(self, tool: ViewTool | None) -> None:
        """Make `tool` receive mouse and key events first (None: the view just pans)."""
        if self._tool is not None:
            self._tool.deactivate(self)
        self._tool = tool
        self.unsetCursor()
        if tool is not None:
            tool.activate(self)

    # display of multichannel images
    def display_settings(self) -> DisplaySettings | None:
        return self._loader.display

    def set_display_settings(self, display: DisplaySettings) -> None:
        """Re-render with new channel settings; old images stay drawn until replaced."""
        self._loader.set_display(display)
        self._loader.request_overview()
        self._was_complete = False
        self._request_timer.start()
        self.display_changed.emit(display)

    # loading state
    def pending_tiles(self) -> int:
        return self._loader.pending()

    def needed_tiles(self) -> list[TileKey]:
        """Tiles the current view draws (none when the resident overview is sharp enough)."""
        return self._frame.tiles_to_draw(self._transform)

    def is_complete(self) -> bool:
        """True when everything visible is drawn at the right level and rendering."""
        generation = self._loader.generation
        if self._frame.overview is None or self._overview_generation != generation:
            return False
        for key in self.needed_tiles():
            entry = self._images.peek(key)
            if key not in self._failed and (entry is None or entry[1] != generation):
                return False
        return True

    def render_image(self, dpr: float | None = None) -> QImage:
        """The view as an image with the on-screen painting code (no window needed)."""
        if (self.width(), self.height()) != (self._transform.width, self._transform.height):
            self._sync_size()  # a hidden widget gets no resize event
        t = self._transform
        ratio = dpr or t.dpr
        image = QImage(round(t.width * ratio), round(t.height * ratio), QImage.Format.Format_RGB32)
        image.setDevicePixelRatio(ratio)
        painter = QPainter(image)
        try:
            self.paint_view(painter, t.with_size(t.width, t.height, ratio), smooth=True)
        finally:
            painter.end()
        return image

    def close_slide(self) -> None:
        """Stop loading and release the file; the widget then paints blank.

        Reads in progress may take long on a network drive, so the file is closed in the
        background once the workers have finished them: the window never waits.
        """
        if self._closing:
            return
        self._closing = True
        self._request_timer.stop()
        self._settle_timer.stop()
        self._loader.stop()
        self._images.clear()
        self._frame.overview = None
        loader, source = self._loader, self._source

        def release() -> None:
            loader.join()
            source.close()

        function_worker(release).start()

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def moving(self) -> bool:
        """True from a user move until SETTLE_MS after the last one."""
        return self._moving

    def settle(self) -> None:
        """End the moving state now (smooth filtering), as SETTLE_MS after the last move does.

        Off-screen renderings call this so that their pixels never depend on timing.
        """
        self._settle_timer.stop()
        self._settle()

    def _settle(self) -> None:
        self._moving = False
        self.update()

    # -- loading ------------------------------------------------------------------------
    def _request_tiles(self) -> None:
        if self._closing:
            return
        generation = self._loader.generation
        wanted = []
        for key in self.needed_tiles():
            entry = self._images.peek(key)
            if key in self._failed or (entry is not None and entry[1] == generation):
                continue
            wanted.append(key)
        self._loader.request(wanted)
        self._check_complete()

    def _on_tile_ready(self, key: TileKey, image: QImage, generation: int) -> None:
        if generation != self._loader.generation:
            return
        self._images.put(key, image, generation)
        if key[0] == level_for(self._source, self._transform):
            self.update()
        self._check_complete()

    def _on_tile_failed(self, key: object, message: str) -> None:
        if isinstance(key, tuple):
            self._failed.add(key)
        self.tile_error.emit(f"{self._source.path}: {message}")
        self._check_complete()

    def _on_overview_ready(self, image: QImage, generation: int) -> None:
        if generation != self._loader.generation:
            return  # rendered with settings since replaced; the new one is on its way
        self._frame.overview = image
        self._overview_generation = generation
        self.update()
        self.overview_changed.emit()
        self._check_complete()

    def _check_complete(self) -> None:
        if not self._was_complete and self.is_complete():
            self._was_complete = True
            self.view_complete.emit()

    # -- painting -----------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        if self._dpr_override is None and self.devicePixelRatioF() != self._transform.dpr:
            self._sync_size()
        painter = QPainter(self)
        try:
            self.paint_view(painter, self._transform)
        finally:
            painter.end()

    def paint_view(
        self, painter: QPainter, t: ViewTransform, *, smooth: bool | None = None
    ) -> None:
        """Draw slide and overlays for `t` (logical coordinates) with `painter`.

        `smooth` filters scaled tiles bilinearly; by default only when the view is at rest.
        """
        if self._closing or not _finite(t):
            painter.fillRect(painter.window(), BACKDROP)
            return
        self._frame.paint(
            painter,
            t,
            smooth=not self._moving if smooth is None else smooth,
            overlays=self._overlays,
        )

    # -- geometry -----------------------------------------------------------------------
    def _current_dpr(self) -> float:
        return self._dpr_override or self.devicePixelRatioF()

    def _sync_size(self) -> None:
        t = self._transform.with_size(self.width(), self.height(), self._current_dpr())
        if self._fitted:
            meta = self._source.metadata
            t = ViewTransform.fit(meta.width, meta.height, t.width, t.height, t.dpr)
        self.set_transform(t, user=False)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt override
        # A view in a background tab keeps only a little: many open slides stay cheap.
        self._images.trim(self._images.max_bytes // 8)
        super().hideEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        self._sync_size()
        super().resizeEvent(event)

    # -- input --------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._tool is not None and self._tool.mouse_press(self, event):
            return
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._drag_last = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._report_cursor(event.position())
        if self._tool is not None and self._tool.mouse_move(self, event):
            return
        if self._drag_last is not None:
            delta = event.position() - self._drag_last
            self._drag_last = event.position()
            self.pan_by(delta.x(), delta.y())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._tool is not None and self._tool.mouse_release(self, event):
            return
        if self._drag_last is not None:
            self._drag_last = None
            self.unsetCursor()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._tool is not None and self._tool.mouse_double_click(self, event):
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self.zoom_by(2.0, event.position())

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            steps = event.pixelDelta().y() / 50.0
        if steps:
            self.zoom_by(2.0 ** (steps / WHEEL_STEPS_PER_DOUBLING), event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if self._tool is not None and self._tool.key_press(self, event):
            return
        key = Qt.Key(event.key())
        step_x, step_y = self.width() / 8, self.height() / 8
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            step_x, step_y = step_x * 4, step_y * 4
        pans = {
            Qt.Key.Key_Left: (step_x, 0.0),
            Qt.Key.Key_Right: (-step_x, 0.0),
            Qt.Key.Key_Up: (0.0, step_y),
            Qt.Key.Key_Down: (0.0, -step_y),
        }
        if key in pans:
            self.pan_by(*pans[key])
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(KEY_ZOOM)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom_by(1 / KEY_ZOOM)
        else:
            super().keyPressEvent(event)

    def event(self, event: QEvent) -> bool:
        if (
            isinstance(event, QNativeGestureEvent)
            and event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture
        ):
            self.zoom_by(1.0 + event.value(), event.position())
            return True
        if event.type() == QEvent.Type.Gesture and isinstance(event, QGestureEvent):
            pinch = event.gesture(Qt.GestureType.PinchGesture)
            if isinstance(pinch, QPinchGesture) and pinch.scaleFactor() > 0:
                center = self.mapFromGlobal(pinch.centerPoint().toPoint())
                self.zoom_by(pinch.scaleFactor(), QPointF(center))
                event.accept()
                return True
        return super().event(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        self.cursor_moved.emit(None)
        super().leaveEvent(event)

    def _report_cursor(self, position: QPointF) -> None:
        x, y = self._transform.to_level0(position.x(), position.y())
        meta = self._source.metadata
        inside = 0 <= x < meta.width and 0 <= y < meta.height
        self.cursor_moved.emit((x, y) if inside else None)


def _finite(t: ViewTransform) -> bool:
    """Every number of `t` finite, the zoom and sizes positive."""
    values = (t.center_x, t.center_y, t.downsample, t.width, t.height, t.dpr)
    return all(math.isfinite(v) for v in values) and min(t.downsample, t.width, t.height, t.dpr) > 0


def _stopper(loader: TileLoader) -> Callable[..., None]:
    """A callable that stops `loader` and holds no reference to the view."""
    return lambda *_: loader.stop()
