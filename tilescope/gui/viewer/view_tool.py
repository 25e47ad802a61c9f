"""Mouse and key tools that plug into a slide view (QuPath's one handler per tool).

The view offers each mouse/key event to its active tool first; an event the tool does not
take (returns False) gets the view's default: drag pans, double-click zooms in, arrows pan.
The wheel and pinch always zoom. Tools map positions with `view.transform` (a ViewTransform).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtGui import QKeyEvent, QMouseEvent

if TYPE_CHECKING:
    from tilescope.gui.viewer.slide_view import SlideView


@runtime_checkable
class ViewTool(Protocol):
    """An interaction mode. Each handler returns True when it consumed the event."""

    def activate(self, view: SlideView) -> None: ...
    def deactivate(self, view: SlideView) -> None: ...
    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool: ...
    def mouse_move(self, view: SlideView, event: QMouseEvent) -> bool: ...
    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool: ...
    def mouse_double_click(self, view: SlideView, event: QMouseEvent) -> bool: ...
    def key_press(self, view: SlideView, event: QKeyEvent) -> bool: ...


class BaseTool:
    """A tool that takes nothing: subclass it and override only the handlers you need."""

    def activate(self, view: SlideView) -> None:
        """Called when the tool becomes active (set a cursor, add a preview overlay)."""

    def deactivate(self, view: SlideView) -> None:
        """Called when another tool (or none) takes over."""

    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool:
        return False

    def mouse_move(self, view: SlideView, event: QMouseEvent) -> bool:
        return False

    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool:
        return False

    def mouse_double_click(self, view: SlideView, event: QMouseEvent) -> bool:
        return False

    def key_press(self, view: SlideView, event: QKeyEvent) -> bool:
        return False
