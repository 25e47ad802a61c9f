"""Cell analysis in the main window: the "Cell Analysis" dock (Measure, Classify, Summary tabs)
and its entries in the Analyze menu, for the current slide.

Measuring and applying to a whole slide run as background jobs (progress, Cancel); training
and the live preview (the objects in view) run at once: a few thousand objects take well
under a second. Results go into the slide's store, so the overlay, the annotation list and
exports see them like any other edit.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QFileDialog, QScrollArea, QTabWidget

from tilescope.engine.analysis.classifier import (
    ObjectClassifier,
    ThresholdClassifier,
    parse_threshold,
    train,
)
from tilescope.engine.analysis.measure import MeasureOptions, measure_store
from tilescope.engine.analysis.stain import estimate_stain_vectors
from tilescope.engine.analysis.summary import summarize, write_summary_csv
from tilescope.engine.analysis.training import (
    EXAMPLE_KEY,
    apply_to_store,
    feature_matrix,
    store_examples,
)
from tilescope.engine.annotations.model import ObjectKind
from tilescope.engine.errors import TilescopeError
from tilescope.engine.inference.progress import RunCancelledError
from tilescope.engine.slide.region import RegionRequest
from tilescope.gui.ai.job import AiJob
from tilescope.gui.analysis.classifier_panel import IN_SELECTION, IN_VIEW, ClassifierPanel
from tilescope.gui.analysis.measure_panel import SELECTED, MeasurePanel
from tilescope.gui.analysis.measurement_table import read_rows
from tilescope.gui.analysis.summary_panel import SummaryPanel
from tilescope.gui.background import run_in_background
from tilescope.gui.dock_tabs import tabify

if TYPE_CHECKING:
    from tilescope.gui.annotations.session import AnnotationSession
    from tilescope.gui.main_window import MainWindow
    from tilescope.gui.viewer.slide_tab import SlideTab

log = logging.getLogger(__name__)

REFRESH_DELAY_MS = 400
PREVIEW_DELAY_MS = 300  # after the view stops moving
PREVIEW_MAX_AREA = 25e6  # level-0 px^2 in view (~40k nuclei) for the live preview
ESTIMATE_MAX_PIXELS = 2_000_000
ONNX_FILES = "ONNX classifier (*.onnx)"


class AnalysisUi(QObject):
    message = Signal(str)  # what the status line says after an action
    table_refreshed = Signal()
    summary_refreshed = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.annotations = window.annotations
        self.classifier: ObjectClassifier | None = None
        self.job: AiJob | None = None
        self.last_preview_s: float | None = None
        self._session: AnalysisSessionLink | None = None
        self.measure_panel = MeasurePanel()
        self.classifier_panel = ClassifierPanel()
        self.summary_panel = SummaryPanel()
        self.tabs = _CompactTabs()
        for panel, title in (
            (self.measure_panel, "Measure"),
            (self.classifier_panel, "Classify"),
            (self.summary_panel, "Summary"),
        ):
            scroll = QScrollArea()  # the dock may be narrow: scroll rather than squeeze
            scroll.setWidgetResizable(True)
            scroll.setWidget(panel)
            self.tabs.addTab(scroll, title)
        self.dock = QDockWidget("Cell Analysis", window)
        self.dock.setObjectName("cell-analysis-dock")
        self.dock.setWidget(self.tabs)
        beside = getattr(self.annotations, "list_dock", None)
        if beside is not None:  # a tab behind the annotation list: the slide keeps its width
            tabify(window, beside, self.dock)  # one tab bar: see gui/dock_tabs.py
            beside.raise_()
        else:
            window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self._live_preview)
        self._watched_view: Any = None
        self._connect_panels()
        self._build_menu()
        window.tabs.currentChanged.connect(lambda _: self._follow_current())
        self.annotations.session_opened.connect(lambda _: self._follow_current())
        self.message.connect(lambda text: window.statusBar().showMessage(text, 8000))
        self._follow_current()

    # -- construction -------------------------------------------------------------------
    def _connect_panels(self) -> None:
        m, c, s = self.measure_panel, self.classifier_panel, self.summary_panel
        m.measure_requested.connect(lambda: self.measure())
        m.cancel_requested.connect(self.cancel)
        m.object_activated.connect(self._show_object)
        m.stains.estimate_requested.connect(lambda: self.estimate_stains())
        c.add_examples_requested.connect(lambda name: self.add_examples(name))
        c.train_requested.connect(lambda: self.train())
        c.apply_requested.connect(lambda scope: self.apply(scope))
        c.threshold_requested.connect(lambda scope: self.apply_threshold(scope))
        c.save_requested.connect(lambda: self.save_classifier())
        c.load_requested.connect(lambda: self.load_classifier())
        s.refresh_requested.connect(lambda: self.refresh_summary())
        s.export_requested.connect(lambda: self.export_summary())

    def _build_menu(self) -> None:
        menu = getattr(getattr(self.window, "ai", None), "menu", None)
        if menu is None:
            menu = self.window.menuBar().addMenu("&Analyze")
        menu.addSeparator()
        for text, index in (
            ("&Measure Objects…", 0),
            ("Object &Classifier…", 1),
            ("&Summary by Region…", 2),
        ):
            action = QAction(text, self.window)
            action.triggered.connect(partial(self.show_tab, index))
            menu.addAction(action)
        menu.addAction(self.dock.toggleViewAction())
        self.menu = menu

    def show_tab(self, index: int) -> None:
        self.dock.show()
        self.dock.raise_()
        self.tabs.setCurrentIndex(index)

    # -- following the current slide ----------------------------------------------------
    def current(self) -> tuple[SlideTab | None, AnnotationSession | None]:
        tab = self.window.current_tab()
        return tab, self.annotations.session_for(tab)

    def _follow_current(self) -> None:
        tab, session = self.current()
        view = tab.view if tab is not None else None
        if self._watched_view is not view:
            if self._watched_view is not None:
                with contextlib.suppress(RuntimeError, TypeError):
                    self._watched_view.transform_changed.disconnect(self._view_moved)
            if view is not None:
                view.transform_changed.connect(self._view_moved)
            self._watched_view = view
        if self._session is not None and self._session.session is not session:
            self._session.disconnect()
            self._session = None
        if session is not None and self._session is None:
            self._session = AnalysisSessionLink(session, self._schedule)
        self.tabs.setEnabled(session is not None)
        self.refresh()

    def _schedule(self, *_: object) -> None:
        self._timer.start()

    def _view_moved(self, *_: object) -> None:
        if self.classifier is not None and self.classifier_panel.live.isChecked():
            self._preview_timer.start()

    def _live_preview(self) -> None:
        if self.job is None or not self.job.active:
            self.preview()

    def refresh(self) -> None:
        """Re-read runs, classes, features, examples and the table (table in a worker)."""
        _, session = self.current()
        if session is None or session.closed:
            return
        store = session.store
        runs = [(f"Run: {r.model_id} ({r.run_id[:8]})", r.run_id) for r in store.runs()]
        self.measure_panel.set_runs(runs)
        self.classifier_panel.set_runs(runs)
        names = store.measurement_names()
        self.classifier_panel.set_features(names)
        self.classifier_panel.set_classes(sorted(c.name for c in store.classes()))
        examples = store_examples(store)
        by_class: dict[str, int] = {}
        for label in examples.labels:
            by_class[label] = by_class.get(label, 0) + 1
        text = ", ".join(f"{k} {v}" for k, v in sorted(by_class.items())) or "none"
        self.classifier_panel.examples.setText(f"Examples: {text}")
        run_id = self.measure_panel.scope.currentData()
        run_id = run_id if run_id not in (None, SELECTED) else None
        run_in_background(
            partial(_read_rows_using, session, run_id),
            partial(self._show_rows, session),
            lambda error: log.debug("measurement table: %s", error),
        )

    def _show_rows(self, session: AnnotationSession, rows: Any) -> None:
        if session is not self.current()[1]:
            return
        self.measure_panel.model.set_rows(rows)
        shown = len(rows.ids)
        note = f"{rows.total:,} objects, {len(rows.names)} measurements"
        if shown < rows.total:
            note += f" (first {shown:,} listed)"
        self.measure_panel.table_note.setText(note)
        self.table_refreshed.emit()

    def _show_object(self, object_id: str) -> None:
        _, session = self.current()
        if session is None:
            return
        found = session.store.get(object_id)
        if found is not None:
            session.select([object_id])
            self.annotations.centre_on(found)

    def _mpp(self, session: AnnotationSession) -> float | None:
        if session.mpp is None:
            return None
        return math.sqrt(session.mpp[0] * session.mpp[1])

    # -- measuring ----------------------------------------------------------------------
    def measure(self) -> AiJob | None:
        tab, session = self.current()
        if tab is None or session is None:
            return None
        if self.job is not None and self.job.active:
            self.message.emit("A measurement is running already")
            return None
        panel = self.measure_panel
        try:
            stains = panel.stains.stains()
        except TilescopeError as error:
            self._say(str(error))
            return None
        source = tab.view.source
        options = MeasureOptions(
            stains=stains if source.metadata.is_rgb else None, ring_um=panel.ring.value()
        )
        scope = panel.scope.currentData()
        ids = sorted(session.selection) if scope == SELECTED else None
        if scope == SELECTED and not ids:
            self._say("Select objects first")
            return None
        run_id = scope if scope not in (None, SELECTED) else None
        mpp = self._mpp(session)

        def work(progress: Any, cancel: Any) -> list[str]:
            with session.using() as store, contextlib.suppress(RunCancelledError):
                return measure_store(
                    store,
                    source,
                    mpp,
                    ids=ids,
                    run_id=run_id,
                    progress=progress,
                    cancel=cancel,
                    options=options,
                    kind=None if ids else ObjectKind.DETECTION,
                )
            return []  # cancelled: nothing was stored

        job = AiJob(f"Measure · {tab.path.name}", work, parent=self)
        job.progress.connect(lambda report: panel.set_progress(report.done, report.total))
        job.finished.connect(partial(self._measured, job))
        job.failed.connect(self._measure_failed)
        self.job = job
        panel.set_running(True)
        panel.status.setText("Measuring…")
        job.start()
        return job

    def _measured(self, job: AiJob, names: list[str]) -> None:
        self.measure_panel.set_running(False)
        if job.cancel_token.cancelled:
            self._say("Measuring cancelled; nothing was stored")
        else:
            self._say(f"Measured: {len(names)} measurements per object")
        self.refresh()

    def _measure_failed(self, message: str) -> None:
        self.measure_panel.set_running(False)
        cancelled = self.job is not None and self.job.cancel_token.cancelled
        self._say("Measuring cancelled; nothing was stored" if cancelled else message)

    def cancel(self) -> None:
        if self.job is not None and self.job.active:
            self.job.cancel()

    def estimate_stains(self) -> bool:
        """Estimate the two stains from the selected region (Macenko)."""
        tab, session = self.current()
        if tab is None or session is None:
            return False
        regions = [a for a in session.selected_objects() if a.geometry.area > 0]
        if not regions:
            self._say("Select a region of stained tissue first")
            return False
        x0, y0, x1, y1 = regions[0].geometry.bounds
        downsample = max(1.0, math.sqrt((x1 - x0) * (y1 - y0) / ESTIMATE_MAX_PIXELS))
        pixels = tab.view.source.read_region(RegionRequest(x0, y0, x1 - x0, y1 - y0, downsample))
        try:
            found = estimate_stain_vectors(pixels, self.measure_panel.stains.stains())
        except TilescopeError as error:
            self._say(str(error))
            return False
        self.measure_panel.stains.set_stains(found)
        self._say(f"Stain vectors estimated from {pixels.shape[1]}×{pixels.shape[0]} px")
        return True

    # -- classifying --------------------------------------------------------------------
    def add_examples(self, class_name: str) -> int:
        """Label the selected detections as examples of `class_name` (undoable)."""
        _, session = self.current()
        name = class_name.strip()
        if session is None or not name:
            self._say("Choose a class for the examples")
            return 0
        chosen = [a for a in session.selected_objects() if a.kind == ObjectKind.DETECTION]
        if not chosen:
            self._say("Select detections to use as examples")
            return 0
        labelled = [
            a.evolve(class_name=name, properties={**a.properties, EXAMPLE_KEY: name})
            for a in chosen
        ]
        session.update_objects(labelled, f"Add {len(labelled)} {name} example(s)")
        self.refresh()
        return len(labelled)

    def train(self) -> ObjectClassifier | None:
        _, session = self.current()
        if session is None:
            return None
        panel = self.classifier_panel
        examples = store_examples(session.store)
        try:
            names, matrix = feature_matrix(session.store, examples.ids, panel.chosen_features())
            model = train(matrix, examples.labels, names, panel.kind.currentText())
        except TilescopeError as error:
            self._say(str(error))
            return None
        self.classifier = model
        panel.apply.setEnabled(True)
        panel.status.setText(
            f"Trained {model.kind} on {len(examples)} examples, {len(names)} features: "
            + ", ".join(model.classes)
        )
        if panel.live.isChecked():
            self.preview()
        return model

    def preview(self) -> int:
        """Apply the classifier to the objects in view at once (the live preview)."""
        tab, _ = self.current()
        if self.classifier is None or tab is None:
            return 0
        rect = tab.view.transform.visible_rect()
        if rect.width() * rect.height() > PREVIEW_MAX_AREA:
            self.classifier_panel.status.setText("Zoom in for the live preview")
            return 0
        started = time.perf_counter()
        counts = self._apply_now(self.classifier, IN_VIEW)
        self.last_preview_s = time.perf_counter() - started
        total = sum(counts.values())
        self.classifier_panel.status.setText(
            self.classifier_panel.status.text().split(" · ")[0]
            + f" · preview: {total:,} objects in view in {self.last_preview_s:.2f} s"
        )
        return total

    def _bbox(self, scope: str) -> tuple[float, float, float, float] | bool | None:
        tab, session = self.current()
        if tab is None or session is None:
            return False
        if scope == IN_VIEW:
            rect = tab.view.transform.visible_rect()
            return (rect.left(), rect.top(), rect.right(), rect.bottom())
        if scope == IN_SELECTION:
            regions = [a for a in session.selected_objects() if a.geometry.area > 0]
            if not regions:
                self._say("Select a region first")
                return False
            return tuple(regions[0].geometry.bounds)
        return None

    def _region_ids(self, session: AnnotationSession) -> list[str] | None:
        regions = [
            a
            for a in session.selected_objects()
            if a.kind == ObjectKind.ANNOTATION and a.geometry.area > 0
        ]
        if not regions:
            return None
        region = regions[0].geometry
        table = session.store.object_table(bbox=region.bounds, kind=ObjectKind.DETECTION)
        if not len(table):
            return []
        centres = shapely.centroid(table.geometries)
        inside = shapely.contains_xy(region, shapely.get_x(centres), shapely.get_y(centres))
        return [i for i, keep in zip(table.ids, inside, strict=True) if keep]

    def _apply_now(self, model: Any, scope: str) -> dict[str, int]:
        _, session = self.current()
        bbox = self._bbox(scope)
        if session is None or bbox is False:
            return {}
        ids = self._region_ids(session) if scope == IN_SELECTION else None
        if scope == IN_SELECTION and ids is None:
            return {}
        try:
            return apply_to_store(
                session.store,
                model,
                bbox=None if scope == IN_SELECTION else bbox,  # type: ignore[arg-type]
                ids=ids,
            )
        except TilescopeError as error:
            self._say(str(error))
            return {}

    def apply(self, scope: str, model: Any = None) -> AiJob | dict[str, int] | None:
        """Apply to the view or a region at once, or to a run or the whole slide as a job."""
        model = model or self.classifier
        if model is None:
            self._say("Train or load a classifier first")
            return None
        tab, session = self.current()
        if tab is None or session is None:
            return None
        if scope in (IN_VIEW, IN_SELECTION):
            counts = self._apply_now(model, scope)
            self._say(_counts_text(counts))
            return counts

        run_id = self.classifier_panel.run_for(scope)

        def work(progress: Any, cancel: Any) -> dict[str, int]:
            with session.using() as store:
                return apply_to_store(store, model, run_id=run_id)

        job = AiJob(f"Classify · {tab.path.name}", work, parent=self)
        job.finished.connect(lambda counts: self._say(_counts_text(counts)))
        job.failed.connect(self._say)
        self.job = job
        job.start()
        return job

    def apply_threshold(self, scope: str) -> AiJob | dict[str, int] | None:
        panel = self.classifier_panel
        feature = panel.threshold_feature.currentText()
        if not feature:
            self._say("Measure the objects first")
            return None
        rule: Any
        levels = panel.levels.text().strip()
        try:
            if levels:
                rule = parse_threshold(f"{feature}>{levels}")
            else:
                rule = ThresholdClassifier(
                    feature,
                    panel.threshold.value(),
                    panel.above.text() or "Positive",
                    panel.below.text() or None,
                )
        except TilescopeError as error:
            self._say(str(error))
            return None
        return self.apply(scope, rule)

    def save_classifier(self, path: str | Path | None = None) -> bool:
        if self.classifier is None:
            self._say("Train a classifier first")
            return False
        classifier = self.classifier
        path = self._chosen_file(
            path, QFileDialog.getSaveFileName, "Save classifier", "classifier.onnx", ONNX_FILES
        )
        return path is not None and self._write_file(path, classifier.save, "Saved")

    def load_classifier(self, path: str | Path | None = None) -> bool:
        path = self._chosen_file(
            path, QFileDialog.getOpenFileName, "Load classifier", "", ONNX_FILES
        )
        if path is None:
            return False
        try:
            self.classifier = ObjectClassifier.load(path)
        except TilescopeError as error:
            self._say(str(error))
            return False
        self.classifier_panel.apply.setEnabled(True)
        self.classifier_panel.status.setText(
            f"Loaded {Path(path).name}: {', '.join(self.classifier.classes)} "
            f"from {len(self.classifier.features)} features"
        )
        return True

    # -- summary ------------------------------------------------------------------------
    def refresh_summary(self) -> None:
        _, session = self.current()
        if session is None:
            return
        mpp = self._mpp(session)
        run_in_background(
            partial(_summarize_using, session, mpp),
            self._show_summary,
            lambda error: self._say(str(error)),
        )

    def _show_summary(self, rows: list[Any]) -> None:
        self.summary_panel.show_rows(rows)
        self.summary_refreshed.emit()

    def export_summary(self, path: str | Path | None = None) -> bool:
        if not self.summary_panel.rows:
            self._say("Refresh the summary first")
            return False
        path = self._chosen_file(
            path, QFileDialog.getSaveFileName, "Export summary", "summary.csv", "CSV (*.csv)"
        )
        rows = self.summary_panel.rows
        return path is not None and self._write_file(
            path, lambda chosen: write_summary_csv(rows, chosen), "Wrote"
        )

    # -- files --------------------------------------------------------------------------
    def _chosen_file(
        self,
        path: str | Path | None,
        ask: Callable[..., tuple[str, str]],
        caption: str,
        name: str,
        filter_text: str,
    ) -> str | Path | None:
        """`path` when given, else the file the user picks in `ask`'s dialog (None: cancelled)."""
        if path is not None:
            return path
        chosen, _ = ask(self.window, caption, name, filter_text)
        return chosen or None

    def _write_file(
        self, path: str | Path, write: Callable[[str | Path], object], done: str
    ) -> bool:
        """Write through `write`; a refusal is said in the status line, success as `done` NAME."""
        try:
            write(path)
        except TilescopeError as error:
            self._say(str(error))
            return False
        self._say(f"{done} {Path(path).name}")
        return True

    def _say(self, text: str) -> None:
        page = self.tabs.currentWidget()
        status = getattr(page.widget() if isinstance(page, QScrollArea) else page, "status", None)
        if status is not None:
            status.setText(text)
        self.message.emit(text)


class _CompactTabs(QTabWidget):
    """Asks for little width, so the dock does not take it from the slide (pages scroll)."""

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, 480)


class AnalysisSessionLink:
    """The current session's change signal, connected to a refresh (and disconnected)."""

    def __init__(self, session: AnnotationSession, slot: Any) -> None:
        self.session = session
        self._slot = slot
        session.store_changed.connect(slot)

    def disconnect(self) -> None:
        with contextlib.suppress(RuntimeError, TypeError):
            self.session.store_changed.disconnect(self._slot)


def _read_rows_using(session: AnnotationSession, run_id: str | None) -> Any:
    with session.using() as store:
        return read_rows(store, run_id)


def _summarize_using(session: AnnotationSession, mpp: float | None) -> Any:
    with session.using() as store:
        return summarize(store, mpp)


def _counts_text(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "No objects to classify"
    return "Classified " + ", ".join(
        f"{name or 'Unclassified'} {n:,} ({100 * n / total:.1f}%)" for name, n in counts.items()
    )
