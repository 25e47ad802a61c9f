"""The jobs dock: one row per AI job with its progress (tiles, ETA) and a Cancel button."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from tilescope.engine.inference.progress import ProgressReport
from tilescope.gui.ai.job import AiJob, JobState


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s left"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min left"


class JobRow(QFrame):
    """The row of one job; it follows the job's signals."""

    remove_requested = Signal()

    def __init__(self, job: AiJob, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(job.title)
        self.title.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until the first report says how many tiles
        self.detail = QLabel("starting…")
        self.detail.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        job.progress.connect(self._on_progress)
        job.state_changed.connect(self._on_state)

    def _cancel(self) -> None:
        self.job.cancel()
        self.cancel_button.setEnabled(False)
        self.detail.setText("cancelling after the current batch…")

    def _on_progress(self, report: ProgressReport) -> None:
        total = max(report.total, 1)
        self.bar.setRange(0, total)
        self.bar.setValue(min(report.done, total))
        text = f"{report.done:,} / {report.total:,} tiles"
        if report.skipped:
            text += f" ({report.skipped:,} background skipped)"
        if report.done < report.total:
            text += f" · {format_eta(report.eta_s)}"
        self.detail.setText(text)

    def _on_state(self, state: str) -> None:
        if state in (JobState.DONE, JobState.CANCELLED, JobState.FAILED):
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Remove")
            self.cancel_button.setEnabled(True)
            self.cancel_button.clicked.disconnect()
            self.cancel_button.clicked.connect(self._remove)
            if self.bar.maximum() == 0:
                self.bar.setRange(0, 1)
                self.bar.setValue(1 if state == JobState.DONE else 0)
        if state == JobState.FAILED:
            self.bar.hide()
            self.detail.setText(self.job.error or "failed")
            self.detail.setStyleSheet("color: #b00020")
        elif state == JobState.CANCELLED:
            self.detail.setText("cancelled — " + self.detail.text())

    def set_outcome(self, text: str) -> None:
        """What the job made (set by the controller once it knows)."""
        self.detail.setText(text)

    def _remove(self) -> None:
        self.remove_requested.emit()


class JobsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[JobRow] = []
        self._container = QWidget()
        self._rows_layout = QVBoxLayout(self._container)
        self._rows_layout.setContentsMargins(0, 0, 0, 0)
        self._rows_layout.addStretch(1)
        self.empty = QLabel("No jobs yet. Run a model from the Models panel.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._container)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.clicked.connect(self.clear_finished)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.empty)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.clear_button)

    def add_job(self, job: AiJob) -> JobRow:
        row = JobRow(job)
        self._rows.append(row)
        self._rows_layout.insertWidget(0, row)  # newest on top
        self.empty.hide()
        row.remove_requested.connect(lambda: self._remove(row))
        return row

    def rows(self) -> list[JobRow]:
        return list(self._rows)

    def row_for(self, job: AiJob) -> JobRow | None:
        return next((r for r in self._rows if r.job is job), None)

    def clear_finished(self) -> None:
        for row in list(self._rows):
            if not row.job.active:
                self._remove(row)

    def _remove(self, row: JobRow) -> None:
        if row in self._rows:
            self._rows.remove(row)
        row.setParent(None)
        row.deleteLater()
        self.empty.setVisible(not self._rows)
