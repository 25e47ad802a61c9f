"""A small widget floating in a corner of its parent (minimap, scale bar), kept there on resize."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QWidget

MARGIN = 10


class CornerWidget(QWidget):
    """Follows `corner` of the parent widget whenever the parent is resized."""

    def __init__(self, parent: QWidget, corner: Qt.Corner) -> None:
        super().__init__(parent)
        self._corner = corner
        parent.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self.place()
        return False

    def place(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        right = self._corner in (Qt.Corner.TopRightCorner, Qt.Corner.BottomRightCorner)
        bottom = self._corner in (Qt.Corner.BottomLeftCorner, Qt.Corner.BottomRightCorner)
        x = parent.width() - self.width() - MARGIN if right else MARGIN
        y = parent.height() - self.height() - MARGIN if bottom else MARGIN
        self.move(max(0, x), max(0, y))
