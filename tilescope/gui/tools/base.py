"""What every annotation tool shares: its session and overlay, mapping events to level-0
pixels, a preview drawn by the overlay, and the left button as the drawing button (the middle
button and the wheel still pan and zoom in every tool)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter

from tilescope.gui.annotations.overlay_layer import AnnotationOverlay
from tilescope.gui.annotations.session import AnnotationSession
from tilescope.gui.viewer.view_tool import BaseTool

if TYPE_CHECKING:
    from tilescope.gui.viewer.slide_view import SlideView

MIN_DRAG_PX = 3.0  # a press and release closer than this is a click, not a drag


class AnnotationTool(BaseTool):
    """Base of the drawing and editing tools (one handler class per tool, as in QuPath)."""

    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, session: AnnotationSession, overlay: AnnotationOverlay) -> None:
        self.session = session
        self.overlay = overlay
        self.view: SlideView | None = None

    def activate(self, view: SlideView) -> None:
        self.view = view
        self.overlay.preview = self
        view.setCursor(self.cursor)

    def deactivate(self, view: SlideView) -> None:
        self.cancel()
        if self.overlay.preview is self:
            self.overlay.preview = None
        view.unsetCursor()
        self.view = None

    # -- hooks for subclasses -----------------------------------------------------------
    def paint_preview(self, painter: QPainter, scale: float) -> None:
        """Draw the shape being made (level-0 coordinates, cosmetic pens)."""

    def cancel(self) -> None:
        """Drop the shape being made (Escape, tool change)."""

    def undo_step(self) -> bool:
        """Undo inside the shape being made (e.g. the last polygon vertex); False if none."""
        return False

    def key_press(self, view: SlideView, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Escape:
            self.cancel()
            self.session.clear_selection()
            view.update()
            return True
        return False

    # -- helpers ------------------------------------------------------------------------
    @staticmethod
    def level0(view: SlideView, position: QPointF) -> tuple[float, float]:
        return view.transform.to_level0(position.x(), position.y())

    @staticmethod
    def downsample(view: SlideView) -> float:
        return view.transform.downsample

    @staticmethod
    def is_draw_button(event: QMouseEvent) -> bool:
        return event.button() == Qt.MouseButton.LeftButton

    @staticmethod
    def dragged_from(press: tuple[float, float], event: QMouseEvent) -> bool:
        """Whether the pointer moved at least `MIN_DRAG_PX` (widget px) since `press`."""
        px, py = press
        moved = max(abs(event.position().x() - px), abs(event.position().y() - py))
        return moved >= MIN_DRAG_PX

    @staticmethod
    def drawing(event: QMouseEvent) -> bool:
        return bool(event.buttons() & Qt.MouseButton.LeftButton)

    def refresh(self) -> None:
        if self.view is not None:
            self.view.update()
