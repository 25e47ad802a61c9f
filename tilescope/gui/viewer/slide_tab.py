"""One open slide in a tab: the view, its minimap and scale bar, and a channels panel if needed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QWidget

from tilescope.engine.slide import SlideSource
from tilescope.gui.viewer.channels_panel import ChannelsPanel
from tilescope.gui.viewer.minimap import Minimap
from tilescope.gui.viewer.render import shows_as_rgb
from tilescope.gui.viewer.scale_bar import ScaleBar
from tilescope.gui.viewer.slide_view import SlideView


class SlideTab(QWidget):
    def __init__(self, source: SlideSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path = source.path
        self.view = SlideView(source)
        self.minimap = Minimap(self.view)
        self.scale_bar = ScaleBar(self.view)
        self.channels: ChannelsPanel | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        if shows_as_rgb(source.metadata):
            layout.addWidget(self.view)
        else:
            splitter = QSplitter(Qt.Orientation.Horizontal)
            self.channels = ChannelsPanel(self.view)
            splitter.addWidget(self.view)
            splitter.addWidget(self.channels)
            splitter.setStretchFactor(0, 1)
            splitter.setSizes([1000, 280])
            layout.addWidget(splitter)

    def close_slide(self) -> None:
        self.view.close_slide()
