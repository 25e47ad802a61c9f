"""The annotation list (a dock): counts and areas by class, the hand-drawn annotations
(filtered by class), and a click on one centres the view on it and selects it. Below, the
details of the selected object: its measurements (area, stain intensities, ...), one per row.

Detections (model output, possibly millions) are counted, not listed one by one.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tilescope.engine.annotations.measurements import measure_many
from tilescope.engine.annotations.model import Annotation, ObjectKind
from tilescope.gui.annotations.class_panel import UNCLASSIFIED, colour_icon
from tilescope.gui.annotations.session import AnnotationSession
from tilescope.gui.background import run_in_background

log = logging.getLogger(__name__)

MAX_LISTED = 5000  # annotations listed one by one (counts always cover everything)
REFRESH_DELAY_MS = 250  # coalesce bursts of store events into one refresh
_ALL = "All classes"
_ID_ROLE = Qt.ItemDataRole.UserRole


def format_area(area: float, unit: str) -> str:
    return f"{area:,.0f} {unit}" if area >= 100 else f"{area:,.1f} {unit}"


@dataclass
class Listing:
    """What the panel shows, read from the store in one go (any thread)."""

    session: AnnotationSession
    counts: dict[str | None, int]
    areas: dict[str | None, float]
    objects: list[Annotation]
    object_areas: list[float]
    truncated: bool


def read_listing(session: AnnotationSession, classes: list[str | None] | None) -> Listing:
    with session.using() as store:
        counts = store.count_by_class()
        areas = store.area_by_class(mpp=session.mpp)
        objects = store.query(classes=classes, kind=ObjectKind.ANNOTATION, limit=MAX_LISTED + 1)
    truncated = len(objects) > MAX_LISTED
    objects = objects[:MAX_LISTED]
    object_areas: list[float] = []
    if objects:
        measured = measure_many([a.geometry for a in objects], session.mpp)
        values = measured.area_um2 if measured.area_um2 is not None else measured.area_px
        object_areas = values.tolist()
    return Listing(session, counts, areas, objects, object_areas, truncated)


class AnnotationListPanel(QWidget):
    activated = Signal(object)  # Annotation: centre the view on it
    refreshed = Signal()  # the counts and the list show the store as it was just read

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: AnnotationSession | None = None
        self.summary = QTableWidget(0, 3)
        self.summary.setHorizontalHeaderLabels(["Class", "Count", "Area"])
        self.summary.verticalHeader().setVisible(False)
        self.summary.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.summary.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.filter = QComboBox()
        self.filter.currentIndexChanged.connect(lambda _: self.refresh())
        self.list = QListWidget()
        self.list.itemClicked.connect(self._on_clicked)
        self.list.itemActivated.connect(self._on_clicked)
        self.note = QLabel()
        self.details = QTableWidget(0, 2)
        self.details.setHorizontalHeaderLabels(["Measurement", "Value"])
        self.details.verticalHeader().setVisible(False)
        self.details.verticalHeader().setDefaultSectionSize(20)
        self.details.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.details.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.summary.setMinimumHeight(6 * self.summary.verticalHeader().defaultSectionSize())
        layout.addWidget(self.summary, 1)
        layout.addWidget(self.filter)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.details, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self._busy = False
        self._again = False
        self.setEnabled(False)

    def set_session(self, session: AnnotationSession | None) -> None:
        if self.session is not None:
            for signal in (self.session.store_changed, self.session.styles_changed):
                with contextlib.suppress(RuntimeError, TypeError):
                    signal.disconnect(self._schedule)
            with contextlib.suppress(RuntimeError, TypeError):
                self.session.selection_changed.disconnect(self.show_details)
        self.session = session
        self.setEnabled(session is not None)
        if session is not None:
            session.store_changed.connect(self._schedule)
            session.styles_changed.connect(self._schedule)
            session.selection_changed.connect(self.show_details)
        self.refresh()
        self.show_details()

    def _schedule(self, *_: object) -> None:
        self._timer.start()

    def unit(self) -> str:
        return "µm²" if self.session is not None and self.session.mpp else "px²"

    def refresh(self) -> None:
        """Re-read counts, areas and the list in a worker thread (with a million detections
        the statistics take a moment; the window stays responsive), then show them."""
        self._timer.stop()
        self.refresh_filter()
        session = self.session
        if session is None:
            self.summary.setRowCount(0)
            self.list.clear()
            self.note.clear()
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        run_in_background(
            partial(read_listing, session, self.class_filter()), self._show, self._failed
        )

    def show_details(self) -> None:
        """The measurements of the one selected object (empty for none or several)."""
        session = self.session
        selected = session.selection if session is not None and not session.closed else ()
        found = session.store.get(next(iter(selected))) if session and len(selected) == 1 else None
        rows = [] if found is None else sorted(found.measurements.items())
        if found is not None and found.score is not None:
            rows.insert(0, ("score", found.score))
        self.details.setRowCount(len(rows))
        for row, (name, value) in enumerate(rows):
            number = QTableWidgetItem(f"{value:.4g}" if value == value else "")
            number.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.details.setItem(row, 0, QTableWidgetItem(name))
            self.details.setItem(row, 1, number)

    def _show(self, listing: Listing) -> None:
        self._busy = False
        if listing.session is self.session and not listing.session.closed:
            self._show_summary(listing)
            self._show_list(listing)
            self.show_details()
        if self._again or listing.session is not self.session:
            self._again = False
            self.refresh()
        self.refreshed.emit()

    def _failed(self, error: BaseException) -> None:
        self._busy = False
        log.debug("annotation list: %s", error)  # e.g. the store closed meanwhile
        if self._again:
            self._again = False
            self.refresh()

    def _show_summary(self, listing: Listing) -> None:
        session = listing.session
        counts, areas = listing.counts, listing.areas
        names = sorted(counts, key=lambda n: (n is None, n or ""))
        self.summary.setRowCount(len(names))
        for row, name in enumerate(names):
            label = QTableWidgetItem(
                colour_icon(session.styles.style(name).colour), name or UNCLASSIFIED
            )
            count = QTableWidgetItem(f"{counts[name]:,}")
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            area = QTableWidgetItem(format_area(areas.get(name, 0.0), self.unit()))
            area.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for column, item in enumerate((label, count, area)):
                self.summary.setItem(row, column, item)

    def refresh_filter(self) -> None:
        session = self.session
        current = self.filter.currentText() or _ALL
        self.filter.blockSignals(True)
        self.filter.clear()
        self.filter.addItem(_ALL)
        if session is not None:
            self.filter.addItem(UNCLASSIFIED)
            self.filter.addItems(sorted(session.styles.colours))
        index = self.filter.findText(current)
        self.filter.setCurrentIndex(max(index, 0))
        self.filter.blockSignals(False)

    def class_filter(self) -> list[str | None] | None:
        text = self.filter.currentText()
        if text in ("", _ALL):
            return None
        return [None] if text == UNCLASSIFIED else [text]

    def _show_list(self, listing: Listing) -> None:
        self.list.clear()
        self.note.setText(f"First {MAX_LISTED:,} annotations shown" if listing.truncated else "")
        for annotation, area in zip(listing.objects, listing.object_areas, strict=True):
            self.list.addItem(self._item(annotation, area))

    def _item(self, annotation: Annotation, area: float) -> QListWidgetItem:
        assert self.session is not None
        name = annotation.class_name or UNCLASSIFIED
        text = f"{annotation.name or name} — {annotation.shape_type}"
        if area > 0:
            text += f" — {format_area(area, self.unit())}"
        item = QListWidgetItem(
            colour_icon(self.session.styles.style(annotation.class_name).colour), text
        )
        item.setData(_ID_ROLE, annotation.id)
        return item

    def ids(self) -> list[str]:
        return [self.list.item(row).data(_ID_ROLE) for row in range(self.list.count())]

    def activate_row(self, row: int) -> None:
        item = self.list.item(row)
        if item is not None:
            self._on_clicked(item)

    def _on_clicked(self, item: QListWidgetItem) -> None:
        if self.session is None:
            return
        annotation = self.session.store.get(item.data(_ID_ROLE))
        if annotation is not None:
            self.session.select([annotation.id])
            self.activated.emit(annotation)
