"""The status bar: cursor position (px and um), pixel size, magnification, tiles loading."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from tilescope.gui.viewer.scale_bar import usable_mpp
from tilescope.gui.viewer.slide_view import SlideView


def format_position(x: float, y: float, mpp: tuple[float, float] | None) -> str:
    text = f"x {x:,.0f}  y {y:,.0f} px"
    if usable_mpp(mpp) and mpp is not None and usable_mpp((mpp[1], mpp[1])):
        text += f"  ({x * mpp[0]:,.1f}, {y * mpp[1]:,.1f} µm)"
    return text


class ViewStatusBar(QStatusBar):
    """Follows one view at a time (the current tab)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.position = QLabel()
        self.zoom = QLabel()
        self.loading = QLabel()
        self.pixel_size = QLabel()
        self.pixel_size.setObjectName("pixel-size")
        self.position.setMinimumWidth(320)
        self.addWidget(self.position, 1)
        self.addPermanentWidget(self.loading)
        self.addPermanentWidget(self.pixel_size)
        self.addPermanentWidget(self.zoom)
        self._view: SlideView | None = None

    def follow(self, view: SlideView | None) -> None:
        if self._view is not None:
            for signal, slot in self._connections(self._view):
                signal.disconnect(slot)
        self._view = view
        self.position.clear()
        self.loading.clear()
        self.zoom.clear()
        if view is not None:
            for signal, slot in self._connections(view):
                signal.connect(slot)
            self._show_zoom()
            self._show_loading(view.pending_tiles())

    def show_pixel_size(self, text: str) -> None:
        """The current slide's pixel size and where it came from, or that it is unknown."""
        self.pixel_size.setText(text)

    def _connections(self, view: SlideView) -> list[tuple[SignalInstance, Callable[..., None]]]:
        return [
            (view.cursor_moved, self._show_position),
            (view.transform_changed, self._show_zoom),
            (view.loading_changed, self._show_loading),
        ]

    def _show_position(self, position: tuple[float, float] | None) -> None:
        if position is None or self._view is None:
            self.position.clear()
            return
        self.position.setText(format_position(*position, self._view.source.metadata.mpp))

    def _show_zoom(self, *_: object) -> None:
        if self._view is not None:
            self.zoom.setText(self._view.zoom_text())

    def _show_loading(self, pending: int) -> None:
        self.loading.setText(
            f"Loading {pending} tile{'s' if pending != 1 else ''}…" if pending else ""
        )
