"""The overview minimap: the whole slide, the viewport as a rectangle; click or drag to jump."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen

from tilescope.gui.viewer.corner_widget import CornerWidget
from tilescope.gui.viewer.slide_view import SlideView

MAX_SIDE = 200
VIEWPORT_COLOR = QColor(255, 210, 0)


class Minimap(CornerWidget):
    """Floats in the top-right corner of a SlideView."""

    def __init__(self, view: SlideView) -> None:
        super().__init__(view, Qt.Corner.TopRightCorner)
        self._view = view
        meta = view.source.metadata
        scale = MAX_SIDE / max(meta.width, meta.height)
        self.setFixedSize(
            QSize(max(24, round(meta.width * scale)) + 2, max(24, round(meta.height * scale)) + 2)
        )
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view")
        view.transform_changed.connect(self.update)
        view.overview_changed.connect(self.update)
        self.place()

    def _image_rect(self) -> QRectF:
        return QRectF(1, 1, self.width() - 2, self.height() - 2)

    def level0_at(self, point: QPointF) -> tuple[float, float]:
        """The level-0 point shown at a minimap position."""
        meta = self._view.source.metadata
        rect = self._image_rect()
        fx = (point.x() - rect.left()) / rect.width()
        fy = (point.y() - rect.top()) / rect.height()
        return (
            min(max(fx, 0.0), 1.0) * meta.width,
            min(max(fy, 0.0), 1.0) * meta.height,
        )

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.fillRect(self.rect(), QColor(20, 20, 20, 200))
        rect = self._image_rect()
        overview = self._view.overview_image()
        if overview is not None:
            painter.drawImage(rect, overview)
        meta = self._view.source.metadata
        visible = self._view.transform.visible_rect()
        sx, sy = rect.width() / meta.width, rect.height() / meta.height
        box = QRectF(
            rect.left() + visible.left() * sx,
            rect.top() + visible.top() * sy,
            visible.width() * sx,
            visible.height() * sy,
        ).intersected(rect.adjusted(-1, -1, 1, 1))
        pen = QPen(VIEWPORT_COLOR, 1.5)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawRect(box)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._jump(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._jump(event.position())

    def _jump(self, point: QPointF) -> None:
        self._view.center_on(*self.level0_at(point))
