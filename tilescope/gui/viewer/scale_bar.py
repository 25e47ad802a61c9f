"""A scale bar in um/mm (pixels when the slide has no mpp), always shown over the view."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent

from tilescope.gui.viewer.corner_widget import CornerWidget
from tilescope.gui.viewer.slide_view import SlideView

TARGET_LENGTH = 120.0  # logical pixels the bar aims for
_NICE = (1.0, 2.0, 5.0)


def usable_mpp(mpp: tuple[float, float] | None) -> float | None:
    """The x pixel size when it is a finite positive number; else None (lengths in px).

    A file that says `MPP = inf` (or 0, or NaN) must not break painting: the bar shows px.
    """
    if not mpp or not math.isfinite(mpp[0]) or mpp[0] <= 0:
        return None
    return float(mpp[0])


def nice_length(maximum: float) -> float:
    """The largest 1, 2 or 5 x 10^n not above `maximum` (0 for anything not finite positive)."""
    if not math.isfinite(maximum) or maximum <= 0:
        return 0.0
    exponent = math.floor(math.log10(maximum))
    best = 10.0**exponent
    for factor in _NICE:
        value = factor * 10.0**exponent
        if value <= maximum:
            best = value
    return best


def format_length(value: float, unit: str) -> str:
    if unit == "um" and value >= 1000:
        return f"{value / 1000:g} mm"
    if unit == "um":
        return f"{value:g} µm"
    return f"{value:g} px"


def scale_bar_for(mpp: float | None, downsample: float) -> tuple[float, str]:
    """(bar length in logical pixels, label) for a view at `downsample` level-0 px per pixel."""
    if mpp is not None and not (math.isfinite(mpp) and mpp > 0):
        mpp = None
    per_pixel = downsample * mpp if mpp else downsample
    if not (math.isfinite(per_pixel) and per_pixel > 0):
        return (0.0, "")
    length = nice_length(TARGET_LENGTH * per_pixel)
    if length <= 0 or not math.isfinite(length / per_pixel):
        return (0.0, "")
    return (length / per_pixel, format_length(length, "um" if mpp else "px"))


class ScaleBar(CornerWidget):
    """Floats in the bottom-left corner of a SlideView."""

    def __init__(self, view: SlideView) -> None:
        super().__init__(view, Qt.Corner.BottomLeftCorner)
        self._view = view
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFixedSize(int(TARGET_LENGTH) + 24, 34)
        view.transform_changed.connect(self.update)
        self.place()

    def label(self) -> str:
        return self._bar()[1]

    def _bar(self) -> tuple[float, str]:
        mpp = usable_mpp(self._view.source.metadata.mpp)
        return scale_bar_for(mpp, self._view.transform.downsample)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        length, text = self._bar()
        if not text:
            return  # nothing sensible to show (a degenerate zoom)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(QColor(255, 255, 255, 200))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawRoundedRect(QRectF(0, 0, length + 20, self.height()), 4, 4)
        painter.fillRect(QRectF(10, self.height() - 10, length, 4), QColor(0, 0, 0))
        font = QFont(painter.font())
        font.setPointSizeF(9)
        painter.setFont(font)
        painter.setPen(QColor(0, 0, 0))
        painter.drawText(
            QRectF(4, 2, length + 12, self.height() - 14), Qt.AlignmentFlag.AlignCenter, text
        )
        painter.end()
