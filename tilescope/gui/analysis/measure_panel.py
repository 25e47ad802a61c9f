"""The Measure tab: stains, ring width, which objects; Measure and Cancel with a progress bar;
the table of objects by measurement below."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tilescope.gui.analysis.measurement_table import MeasurementTableModel
from tilescope.gui.analysis.stain_editor import StainEditor

ALL_DETECTIONS = "All detections"
SELECTED = "Selected objects"


class MeasurePanel(QWidget):
    measure_requested = Signal()
    cancel_requested = Signal()
    object_activated = Signal(str)  # object id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stains = StainEditor()
        self.ring = QDoubleSpinBox()
        self.ring.setRange(0.0, 50.0)
        self.ring.setValue(2.0)
        self.ring.setSuffix(" µm")
        self.ring.setToolTip("width of the ring around each object (cytoplasm_* columns)")
        self.scope = QComboBox()
        self.measure = QPushButton("Measure")
        self.measure.clicked.connect(self.measure_requested)
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self.cancel_requested)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.table_note = QLabel()
        self.model = MeasurementTableModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.activated.connect(self._activated)
        self.table.clicked.connect(self._activated)
        form = QFormLayout()
        form.addRow("Ring", self.ring)
        form.addRow("Objects", self.scope)
        buttons = QHBoxLayout()
        buttons.addWidget(self.measure)
        buttons.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.stains)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table_note)
        layout.addWidget(self.table, 1)

    def set_runs(self, runs: list[tuple[str, str]]) -> None:
        """Scope choices: all detections, the selection, then each run (label, run id)."""
        current = self.scope.currentData()
        self.scope.clear()
        self.scope.addItem(ALL_DETECTIONS, None)
        self.scope.addItem(SELECTED, SELECTED)
        for label, run_id in runs:
            self.scope.addItem(label, run_id)
        index = self.scope.findData(current)
        self.scope.setCurrentIndex(max(index, 0))

    def set_running(self, running: bool) -> None:
        self.measure.setEnabled(not running)
        self.cancel.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.object_activated.emit(self.model.object_id(index.row()))

    def column_names(self) -> list[str]:
        return list(self.model.rows.names)

    def sort_by(self, name: str, order: Qt.SortOrder = Qt.SortOrder.DescendingOrder) -> None:
        self.table.sortByColumn(1 + self.model.rows.names.index(name), order)
