"""Which scene of a multi-scene slide (or page of a multi-page document) a tab shows.

Sits in the tab bar's corner and follows the current tab; hidden for single-scene files.
Scenes are numbered from 0, as `tilescope infer --scene N` and the exported
`properties.scene` number them, so the numbers a user reads here are the ones scripts use.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget


def scene_label(scene: int, count: int) -> str:
    return f"Scene {scene} of {count}" if count > 1 else "Scene 0"


def tab_title(name: str, scene: int, count: int) -> str:
    """A tab's text: the file name, and for a multi-scene file which scene it shows."""
    return f"{name} · scene {scene}" if count > 1 else name


class SceneSelector(QWidget):
    scene_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scene-selector")
        self.combo = QComboBox()
        self.combo.setObjectName("scene-combo")
        self.combo.setToolTip(
            "Scenes of a multi-scene slide and pages of a multi-page document, numbered as "
            "`tilescope infer --scene N`; each keeps its own annotations"
        )
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.activated.connect(self.scene_chosen.emit)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(QLabel("Scene:"))
        layout.addWidget(self.combo)
        self.show_scenes(1, 0)

    def show_scenes(self, count: int, current: int) -> None:
        """Offer `count` scenes with `current` selected (hidden when there is only one)."""
        with QSignalBlocker(self.combo):
            if self.combo.count() != count:
                self.combo.clear()
                self.combo.addItems([scene_label(n, count) for n in range(count)])
            self.combo.setCurrentIndex(current)
        self.setVisible(count > 1)

    def current_scene(self) -> int:
        return self.combo.currentIndex()
