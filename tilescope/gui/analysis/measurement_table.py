"""A table of objects by measurement (one row per object, one column per measurement).

Backed by numpy arrays, so 100k rows scroll and sort at once (Qt asks only for visible cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from tilescope.engine.annotations.model import ObjectKind
from tilescope.engine.annotations.store import AnnotationStore

MAX_ROWS = 200_000
Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class MeasurementRows:
    ids: list[str]
    classes: list[str]
    names: list[str]
    values: np.ndarray  # (rows, names)
    total: int  # objects in the store before MAX_ROWS cut the table


def read_rows(store: AnnotationStore, run_id: str | None = None) -> MeasurementRows:
    """The detections (of a run) with their measurements; any thread."""
    table = store.object_table(run_id=run_id, kind=ObjectKind.DETECTION)
    total = len(table)
    rids = table.rids[:MAX_ROWS]
    names, values = store.measurement_matrix_for_rids(rids, None)
    classes = [c or "" for c in table.class_names[:MAX_ROWS]]
    return MeasurementRows(table.ids[:MAX_ROWS], classes, names, values, total)


def format_value(value: float) -> str:
    if value != value:  # NaN: not measured
        return ""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if magnitude < 1 else f"{value:.2f}"


class MeasurementTableModel(QAbstractTableModel):
    """Column 0 is the class; the others the measurements."""

    def __init__(self) -> None:
        super().__init__()
        self.rows = MeasurementRows([], [], [], np.zeros((0, 0)), 0)
        self._order = np.zeros(0, dtype=np.int64)

    def set_rows(self, rows: MeasurementRows) -> None:
        self.beginResetModel()
        self.rows = rows
        self._order = np.arange(len(rows.ids))
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else 1 + len(self.rows.names)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row = int(self._order[index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() == 0:
                return self.rows.classes[row]
            return format_value(float(self.rows.values[row, index.column() - 1]))
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return "class" if section == 0 else self.rows.names[section - 1]
        return section + 1

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        if column == 0:
            keys = np.array(self.rows.classes, dtype=object)
            self._order = np.argsort(keys, kind="stable")
        else:
            values = self.rows.values[:, column - 1]
            self._order = np.argsort(np.where(np.isnan(values), np.inf, values), kind="stable")
        if order == Qt.SortOrder.DescendingOrder:
            self._order = self._order[::-1]
        self.layoutChanged.emit()

    def object_id(self, row: int) -> str:
        return self.rows.ids[int(self._order[row])]
