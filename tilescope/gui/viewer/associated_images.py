"""A dialog that shows a slide's associated images (label, macro, thumbnail)."""

from __future__ import annotations

from functools import partial

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from tilescope.engine.slide import SlideSource
from tilescope.gui.background import run_in_background
from tilescope.gui.viewer.render import rgb_to_qimage


class AssociatedImagesDialog(QDialog):
    """One tab per associated image; images are read in the background."""

    def __init__(self, source: SlideSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Associated images — {source.path.name}")
        self.resize(720, 560)
        self._tabs = QTabWidget(self)
        layout = QVBoxLayout(self)
        layout.addWidget(self._tabs)
        self.labels: dict[str, QLabel] = {}
        names = source.metadata.associated_images
        if not names:
            self._tabs.addTab(QLabel("This slide has no associated images."), "None")
        for name in names:
            label = QLabel("Loading…")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            scroll = QScrollArea()
            scroll.setWidget(label)
            scroll.setWidgetResizable(True)
            self._tabs.addTab(scroll, name)
            self.labels[name] = label
            run_in_background(
                partial(_read_image, source, name),
                partial(self._show, name),
                partial(self._fail, name),
            )

    def _show(self, name: str, image: QImage) -> None:
        label = self.labels[name]
        label.setPixmap(QPixmap.fromImage(image))  # pixmaps only here, on the GUI thread
        label.setToolTip(f"{name}: {image.width()} x {image.height()} px")

    def _fail(self, name: str, error: BaseException) -> None:
        self.labels[name].setText(f"Cannot read {name!r}: {error}")


def _read_image(source: SlideSource, name: str) -> QImage:
    return rgb_to_qimage(np.asarray(source.associated_image(name)))
