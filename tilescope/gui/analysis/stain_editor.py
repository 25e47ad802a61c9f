"""Stain vectors the user sees and edits: a preset, each stain's OD vector, or an estimate."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from tilescope.engine.analysis.stain import PRESETS, StainVectors
from tilescope.engine.errors import InputError

MAX_STAINS = 3


class StainEditor(QWidget):
    estimate_requested = Signal()
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS))
        self.preset.currentTextChanged.connect(self._load_preset)
        self.estimate = QPushButton("Estimate from selection")
        self.estimate.setToolTip("Macenko's estimate of the two stains of the selected region")
        self.estimate.clicked.connect(self.estimate_requested)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Stains"), 0, 0)
        layout.addWidget(self.preset, 0, 1, 1, 3)
        layout.addWidget(self.estimate, 0, 4)
        self.names: list[QLabel] = []
        self.values: list[list[QDoubleSpinBox]] = []
        for row in range(MAX_STAINS):
            label = QLabel()
            boxes = []
            layout.addWidget(label, row + 1, 0)
            for column in range(3):
                box = QDoubleSpinBox()
                box.setRange(0.0, 1.0)
                box.setDecimals(3)
                box.setSingleStep(0.01)
                box.setToolTip("optical density in " + "RGB"[column])
                box.valueChanged.connect(lambda _=0.0: self.changed.emit())
                layout.addWidget(box, row + 1, column + 1)
                boxes.append(box)
            self.names.append(label)
            self.values.append(boxes)
        self.name = "H-E-DAB"
        self.set_stains(PRESETS["H-E-DAB"])

    def _load_preset(self, name: str) -> None:
        if name in PRESETS:
            self.set_stains(PRESETS[name])

    def set_stains(self, stains: StainVectors) -> None:
        self.name = stains.name
        for row in range(MAX_STAINS):
            present = row < len(stains.stains)
            self.names[row].setVisible(present)
            for box in self.values[row]:
                box.setVisible(present)
            if present:
                name, vector = stains.stains[row]
                self.names[row].setText(name)
                for box, value in zip(self.values[row], vector, strict=True):
                    box.blockSignals(True)
                    box.setValue(value)
                    box.blockSignals(False)
        self.changed.emit()

    def stains(self) -> StainVectors:
        """The vectors as shown (edited or not); InputError when they cannot be used."""
        pairs = []
        for row in range(MAX_STAINS):
            if self.names[row].isHidden():
                continue
            vector = tuple(box.value() for box in self.values[row])
            pairs.append((self.names[row].text(), vector))
        try:
            return StainVectors(self.name, tuple(pairs))  # type: ignore[arg-type]
        except InputError:
            raise
