"""Per-channel visibility, colour and display range for multichannel (fluorescence) slides."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tilescope.gui.viewer.render import DisplaySettings
from tilescope.gui.viewer.slide_view import SlideView


class ChannelsPanel(QWidget):
    """Edits the view's DisplaySettings; the view re-renders tiles in its workers."""

    def __init__(self, view: SlideView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self._auto: DisplaySettings | None = view.display_settings()
        self._rows: list[tuple[QCheckBox, QPushButton, QDoubleSpinBox, QDoubleSpinBox]] = []
        self._updating = False
        outer = QVBoxLayout(self)
        outer.addWidget(QLabel("<b>Channels</b>"))
        self._grid = QGridLayout()
        outer.addLayout(self._grid)
        for column, title in enumerate(("Channel", "Colour", "Min", "Max")):
            self._grid.addWidget(QLabel(title), 0, column)
        self._auto_button = QPushButton("Auto contrast")
        self._auto_button.setToolTip("Reset every range to the image's 0.5-99.5 percentiles")
        self._auto_button.clicked.connect(self.reset_to_auto)
        outer.addWidget(self._auto_button)
        outer.addStretch(1)
        view.display_changed.connect(self._on_display_changed)
        display = view.display_settings()
        if display is not None:
            self._on_display_changed(display)

    def settings(self) -> DisplaySettings | None:
        return self._view.display_settings()

    def reset_to_auto(self) -> None:
        if self._auto is not None:
            self._view.set_display_settings(self._auto)

    def _on_display_changed(self, display: DisplaySettings) -> None:
        if self._auto is None:
            self._auto = display  # the first settings are the automatic ones
        if len(self._rows) != len(display.channels):
            self._build_rows(display)
        self._updating = True
        try:
            for (check, color, low, high), channel in zip(
                self._rows, display.channels, strict=True
            ):
                check.setChecked(channel.visible)
                _paint_swatch(color, channel.color)
                low.setValue(channel.minimum)
                high.setValue(channel.maximum)
        finally:
            self._updating = False

    def _build_rows(self, display: DisplaySettings) -> None:
        for row, channel in enumerate(display.channels, start=1):
            check = QCheckBox(channel.name)
            color = QPushButton()
            color.setFixedWidth(36)
            color.setToolTip(f"Colour of {channel.name}")
            dtype = self._view.source.metadata.dtype
            low, high = _range_box(dtype), _range_box(dtype)
            check.toggled.connect(lambda on, i=row - 1: self._change(i, visible=on))
            color.clicked.connect(lambda _=False, i=row - 1: self._pick_color(i))
            low.valueChanged.connect(lambda v, i=row - 1: self._change(i, minimum=v))
            high.valueChanged.connect(lambda v, i=row - 1: self._change(i, maximum=v))
            for column, widget in enumerate((check, color, low, high)):
                self._grid.addWidget(widget, row, column)
            self._rows.append((check, color, low, high))

    def _change(self, index: int, **changes: object) -> None:
        display = self._view.display_settings()
        if self._updating or display is None:
            return
        self._view.set_display_settings(display.with_channel(index, **changes))

    def _pick_color(self, index: int) -> None:
        display = self._view.display_settings()
        if display is None:
            return
        dialog = QColorDialog(QColor(*display.channels[index].color), self)
        dialog.colorSelected.connect(
            lambda c: self._change(index, color=(c.red(), c.green(), c.blue()))
        )
        dialog.open()  # not modal to the app: the view keeps painting


def _range_box(dtype: str) -> QDoubleSpinBox:
    """A display-range field spanning the pixel type (whole numbers for integer types)."""
    box = QDoubleSpinBox()
    kind = np.dtype(dtype)
    if np.issubdtype(kind, np.integer):
        info = np.iinfo(kind)
        box.setRange(float(info.min), float(info.max))
        box.setDecimals(0)
    else:
        box.setRange(-1e9, 1e9)
        box.setDecimals(3)
    box.setKeyboardTracking(False)  # re-render on Enter / focus out, not on every digit
    box.setAlignment(Qt.AlignmentFlag.AlignRight)
    return box


def _paint_swatch(button: QPushButton, color: tuple[int, int, int]) -> None:
    button.setStyleSheet(f"background-color: rgb({color[0]}, {color[1]}, {color[2]});")
