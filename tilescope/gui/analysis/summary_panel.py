"""The Summary tab: count, percentage and density per mm² of each class in each region."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tilescope.engine.analysis.summary import SummaryRow

HEADERS = ["Region", "Region class", "Area (mm²)", "Class", "Count", "%", "Per mm²", "H-score"]


class SummaryPanel(QWidget):
    refresh_requested = Signal()
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[SummaryRow] = []
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_requested)
        export = QPushButton("Export CSV…")
        export.clicked.connect(self.export_requested)
        self.status = QLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(refresh)
        buttons.addWidget(export)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

    def show_rows(self, rows: list[SummaryRow]) -> None:
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [
                row.region,
                row.region_class,
                _number(row.region_area_mm2, "{:.3f}"),
                row.object_class,
                f"{row.count:,}",
                f"{row.percent:.1f}",
                _number(row.density_per_mm2, "{:,.0f}"),
                _number(row.h_score, "{:.0f}"),
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c in (2, 4, 5, 6, 7):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(r, c, item)

    def cell(self, row: int, column: str) -> str:
        item = self.table.item(row, HEADERS.index(column))
        return item.text() if item is not None else ""


def _number(value: float, pattern: str) -> str:
    return "" if math.isnan(value) else pattern.format(value)
