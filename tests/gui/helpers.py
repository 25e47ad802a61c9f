"""Small helpers shared by the viewer tests."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from tilescope.gui.viewer.slide_view import SlideView


def wait_complete(qtbot, view: SlideView, timeout_ms: int = 8000) -> None:
    qtbot.waitUntil(view.is_complete, timeout=timeout_ms)


def image_to_array(image: QImage) -> np.ndarray:
    """QImage -> H x W x 3 uint8 RGB (copied)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    buffer = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()
