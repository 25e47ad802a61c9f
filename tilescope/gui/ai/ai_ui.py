"""AI in the main window: the Models, Jobs and Runs docks, an Analyze menu, the NuClick tool
and heat-map layers, per open slide.

The main window only creates this object. It uses the annotation UI's per-slide sessions
(store + history + overlay): jobs write to the slide's store from their worker thread, and
each progress report makes the session poll the store, so new objects appear on the slide
while the job runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu, QMessageBox

from tilescope.engine.inference.job import JobResult, earlier_runs
from tilescope.engine.inference.probability_pyramid import HeatmapError
from tilescope.gui.ai.heatmap_layer import HeatmapLayer
from tilescope.gui.ai.inference_task import (
    HEATMAP_KEY,
    InferenceRequest,
    describe_failure,
    run_inference,
)
from tilescope.gui.ai.job import AiJob, JobState
from tilescope.gui.ai.jobs_panel import JobsPanel
from tilescope.gui.ai.models_panel import ModelsPanel, Scope
from tilescope.gui.ai.nuclick_tool import SHORTCUT, NuClickTool
from tilescope.gui.ai.runs_panel import RunsPanel, remove_run_output
from tilescope.gui.dock_tabs import tabify

if TYPE_CHECKING:
    from tilescope.gui.annotations.session import AnnotationSession
    from tilescope.gui.main_window import MainWindow
    from tilescope.gui.viewer.slide_tab import SlideTab
    from tilescope.gui.viewer.slide_view import SlideView

log = logging.getLogger(__name__)

TABLE_MODEL = "table-detection"
NUCLICK_MODEL = "nuclick"
SHUTDOWN_WAIT_S = 5.0


@dataclass
class SlideAi:
    """What one open slide has here: its NuClick tool and its heat-map layers by run id."""

    view: SlideView
    nuclick: NuClickTool | None = None
    heatmaps: dict[str, HeatmapLayer] = field(default_factory=dict)


class AiUi(QObject):
    job_started = Signal(object)  # AiJob
    job_ended = Signal(object)  # AiJob (done, cancelled or failed)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.annotations = window.annotations
        self.jobs: list[AiJob] = []
        self._slides: dict[int, SlideAi] = {}
        self._watched_session: AnnotationSession | None = None
        self.heatmap_opacity = 0.5
        self.colour_map = "viridis"
        self._build_docks()
        self._create_actions()
        self._build_menu()
        window.tabs.currentChanged.connect(lambda _: self._follow_current())
        self.annotations.session_opened.connect(self._on_session_opened)
        window.installEventFilter(self)
        self._follow_current()

    # -- construction -------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.models_panel = ModelsPanel()
        self.models_panel.run_requested.connect(self.run_model)
        self.models_panel.nuclick_requested.connect(self._use_nuclick)
        self.jobs_panel = JobsPanel()
        self.runs_panel = RunsPanel()
        self.runs_panel.heatmap_toggled.connect(self._toggle_heatmap)
        self.runs_panel.heatmap_opacity_changed.connect(self.set_heatmap_opacity)
        self.runs_panel.colour_map_changed.connect(self.set_colour_map)
        self.models_dock = self._dock("Models", "models-dock", self.models_panel)
        self.runs_dock = self._dock("Runs", "runs-dock", self.runs_panel)
        self.jobs_dock = self._dock("Jobs", "jobs-dock", self.jobs_panel)
        area = Qt.DockWidgetArea.LeftDockWidgetArea
        self.window.addDockWidget(area, self.models_dock)
        self.window.addDockWidget(area, self.jobs_dock)
        tabify(self.window, self.jobs_dock, self.runs_dock)
        self.jobs_dock.raise_()

    def _dock(self, title: str, name: str, widget: QObject) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(name)
        dock.setWidget(widget)  # type: ignore[arg-type]
        return dock

    def _create_actions(self) -> None:
        self.nuclick_action = QAction("NuClick", self.window)
        self.nuclick_action.setCheckable(True)
        self.nuclick_action.setShortcut(QKeySequence(SHORTCUT))
        tip = "Click inside a nucleus to outline it; Shift+click queues; drag a squiggle"
        self.nuclick_action.setToolTip(f"NuClick ({SHORTCUT}): {tip}")
        self.nuclick_action.setStatusTip(tip)
        self.nuclick_action.triggered.connect(lambda: self.activate_nuclick())
        # One exclusive group with the annotation tools: choosing one of them ends NuClick.
        self.annotations.tool_group.addAction(self.nuclick_action)
        self.annotations.toolbar.addAction(self.nuclick_action)
        self.window.addAction(self.nuclick_action)
        self.detect_tables_action = QAction("Detect &Tables", self.window)
        self.detect_tables_action.setShortcut(QKeySequence("Ctrl+Shift+T"))
        self.detect_tables_action.setStatusTip("Find tables on the page (the visible part)")
        self.detect_tables_action.triggered.connect(lambda: self.detect_tables())
        self.detect_cells_action = QAction("Detect Tables and &Cells", self.window)
        self.detect_cells_action.triggered.connect(lambda: self.detect_tables(structure=True))
        self.run_viewport_action = QAction("Run Selected Model on &Viewport", self.window)
        self.run_viewport_action.triggered.connect(
            lambda: self.models_panel._request(Scope.VIEWPORT)
        )
        self.cancel_all_action = QAction("Cancel &All Jobs", self.window)
        self.cancel_all_action.triggered.connect(self.cancel_all)

    def _build_menu(self) -> None:
        bar = self.window.menuBar()
        menu = QMenu("&Analyze", self.window)
        menu.addAction(self.nuclick_action)
        menu.addAction(self.run_viewport_action)
        menu.addSeparator()
        menu.addAction(self.detect_tables_action)
        menu.addAction(self.detect_cells_action)
        menu.addSeparator()
        menu.addAction(self.cancel_all_action)
        menu.addSeparator()
        for dock in (self.models_dock, self.jobs_dock, self.runs_dock):
            menu.addAction(dock.toggleViewAction())
        help_action = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if help_action is not None:
            bar.insertMenu(help_action, menu)
        else:
            bar.addMenu(menu)
        self.menu = menu

    # -- following the current slide ----------------------------------------------------
    def _slide_ai(self, tab: SlideTab) -> SlideAi:
        key = id(tab)
        if key not in self._slides:
            self._slides[key] = SlideAi(tab.view)
            tab.destroyed.connect(partial(self._forget, key))
        return self._slides[key]

    def _forget(self, key: int, *_: object) -> None:
        slide = self._slides.pop(key, None)
        if slide is None:
            return
        if slide.nuclick is not None:
            slide.nuclick.close()
        for layer in slide.heatmaps.values():
            layer.close()

    def _on_session_opened(self, tab: SlideTab) -> None:
        if self.window.current_tab() is tab:
            self._follow_current()

    def _follow_current(self) -> None:
        tab = self.window.current_tab()
        session = self.annotations.session_for(tab)
        if self._watched_session is not None and self._watched_session is not session:
            try:
                self._watched_session.store_changed.disconnect(self.runs_panel.on_store_changed)
                self._watched_session.selection_changed.disconnect(self._update_enabled)
            except (RuntimeError, TypeError):
                pass
            self._watched_session = None
        if session is not None and self._watched_session is None:
            session.store_changed.connect(self.runs_panel.on_store_changed)
            session.selection_changed.connect(self._update_enabled)
            self._watched_session = session
        shown = set(self._slide_ai(tab).heatmaps) if tab is not None else set()
        self.runs_panel.set_store(session.store if session is not None else None, shown)
        if tab is not None and session is not None and self.nuclick_action.isChecked():
            self.activate_nuclick()
        self._update_enabled()

    def _update_enabled(self) -> None:
        tab = self.window.current_tab()
        session = self.annotations.session_for(tab)
        has = session is not None
        self.models_panel.set_slide_available(has, has and bool(session.selection))  # type: ignore[union-attr]
        for action in (
            self.nuclick_action,
            self.detect_tables_action,
            self.detect_cells_action,
            self.run_viewport_action,
        ):
            action.setEnabled(has)

    # -- running models -----------------------------------------------------------------
    def run_model(
        self,
        model_id: str,
        scope: str = Scope.VIEWPORT,
        overrides: dict | None = None,
        *,
        batch_size: int | None = None,
        keep_previous: bool | None = None,
    ) -> AiJob | None:
        """Start `model_id` on the current slide's viewport, selection or whole slide.

        `overrides` replace model parameters (e.g. ``structure`` for table models);
        `batch_size` None runs the model's own batch size. The run replaces the model's
        earlier runs on this slide unless `keep_previous`; None asks the user when there are.
        """
        tab = self.window.current_tab()
        session = self.annotations.session_for(tab)
        if tab is None or session is None:
            self._say("Open a slide first")
            return None
        region = self._region_for(scope, tab.view, session)
        if region is False:
            return None
        scene = int(getattr(tab.view.source, "scene", 0))
        if keep_previous is None:
            keep_previous = self._ask_keep_previous(session, model_id, scene, overrides or {})
            if keep_previous is None:
                return None
        request = InferenceRequest(
            tab.path,
            model_id,
            region,  # type: ignore[arg-type]
            dict(overrides or {}),
            batch_size=batch_size,
            scene=scene,
            keep_previous=keep_previous,
        )
        title = f"{model_id} · {tab.path.name} · {request.scope_text()}"
        job = AiJob(
            title,
            partial(run_inference, request),
            describe_error=partial(describe_failure, model_id),
            was_cancelled=lambda result: bool(
                isinstance(result, JobResult) and result.summary.cancelled
            ),
            parent=self,
        )
        job.progress.connect(lambda _report: self._poll(session))
        job.finished.connect(partial(self._on_job_finished, job, tab, session, request))
        job.failed.connect(partial(self._on_job_failed, job))
        self.jobs.append(job)
        self.jobs_panel.add_job(job)
        self.jobs_dock.raise_()
        job.start()
        self.job_started.emit(job)
        return job

    def _ask_keep_previous(
        self, session: AnnotationSession, model_id: str, scene: int, overrides: dict
    ) -> bool | None:
        """Whether to keep the model's earlier runs (False: replace; None: the user cancelled)."""
        from tilescope.engine.errors import TilescopeError
        from tilescope.plugins.catalog import load_model

        try:  # the parameters the run will have: only a run with the same ones is repeated
            model = load_model(model_id)
            model.set_parameters(overrides)
        except TilescopeError:
            return False  # the job itself reports the problem
        earlier = earlier_runs(session.store, model_id, scene, dict(model.parameters))
        if not earlier:
            return False
        objects = sum(session.store.count(run_id=r, include_hidden_runs=True) for r in earlier)
        box = QMessageBox(self.window)
        box.setWindowTitle("Run again")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText(
            f"{model_id} has run on this slide before ({objects:,} objects). "
            "Replace that run with the new one, or keep both?"
        )
        replace = box.addButton("Replace", QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton("Keep both", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(replace)
        box.exec()
        clicked = box.clickedButton()
        if clicked is replace:
            return False
        return True if clicked is keep else None

    def _region_for(
        self, scope: str, view: SlideView, session: AnnotationSession
    ) -> tuple[float, float, float, float] | bool | None:
        """Level-0 (x, y, w, h); None for the whole slide; False when there is none."""
        meta = view.source.metadata
        bounds = QRectF(0, 0, meta.width, meta.height)
        if scope == Scope.SLIDE:
            return None
        if scope == Scope.SELECTION:
            selected = session.selected_objects()
            if not selected:
                self._say("Select an annotation first (its bounding box is the region)")
                return False
            x0 = min(a.geometry.bounds[0] for a in selected)
            y0 = min(a.geometry.bounds[1] for a in selected)
            x1 = max(a.geometry.bounds[2] for a in selected)
            y1 = max(a.geometry.bounds[3] for a in selected)
            rect = QRectF(x0, y0, x1 - x0, y1 - y0).intersected(bounds)
        else:
            rect = view.transform.visible_rect().intersected(bounds)
        if rect.width() < 1 or rect.height() < 1:
            self._say("The region lies outside the slide")
            return False
        return (rect.x(), rect.y(), rect.width(), rect.height())

    def _poll(self, session: AnnotationSession) -> None:
        if not session.closed:
            session.poll()

    def _on_job_finished(
        self,
        job: AiJob,
        tab: SlideTab,
        session: AnnotationSession,
        request: InferenceRequest,
        result: JobResult,
    ) -> None:
        self._poll(session)
        summary = result.summary
        count = len(summary.annotations)
        if summary.cancelled:
            text = (
                f"cancelled: kept {count:,} objects from {summary.tiles_run:,} of "
                f"{summary.tiles_total - summary.tiles_skipped:,} tiles"
            )
        else:
            text = f"{count:,} objects in {summary.seconds:.1f} s"
            if summary.notes:
                text += " · " + "; ".join(summary.notes)
        if result.replaced:
            text += f" · replaced the earlier run{'s' if len(result.replaced) > 1 else ''}"
            self._forget_runs(tab, session, result.replaced)
        row = self.jobs_panel.row_for(job)
        if row is not None:
            row.set_outcome(text)
        self._say(f"{request.model_id}: {text}")
        if not summary.cancelled and self._tab_alive(tab) and not session.closed:
            path = session.store.get_metadata(f"{HEATMAP_KEY}{request.run_id}")
            if path:
                self.show_heatmap(tab, request.run_id, path)
        if self.window.current_tab() is tab:
            self.runs_panel.refresh()
        self.job_ended.emit(job)

    def _forget_runs(
        self, tab: SlideTab, session: AnnotationSession, run_ids: tuple[str, ...]
    ) -> None:
        """Drop the heat maps (layers and cache folders) of runs a new run replaced."""
        for run_id in run_ids:
            if self._tab_alive(tab):
                self._hide_heatmap(tab, run_id)
            if not session.closed:
                path = session.store.get_metadata(f"{HEATMAP_KEY}{run_id}")
                if path:
                    remove_run_output(Path(path))

    def _on_job_failed(self, job: AiJob, message: str) -> None:
        self._say(message)
        self.window.report_error("Model failed", message)
        self.job_ended.emit(job)

    def cancel_all(self) -> None:
        for job in self.jobs:
            if job.active:
                job.cancel()

    def active_jobs(self) -> list[AiJob]:
        return [j for j in self.jobs if j.state in (JobState.QUEUED, JobState.RUNNING)]

    # -- table detection ----------------------------------------------------------------
    def detect_tables(self, structure: bool = False) -> AiJob | None:
        """Tables (and their cells when asked) on the current page, or its visible part."""
        tab = self.window.current_tab()
        if tab is None:
            self._say("Open a document page first")
            return None
        meta = tab.view.source.metadata
        visible = tab.view.transform.visible_rect()
        whole = visible.contains(QRectF(0, 0, meta.width, meta.height))
        overrides = {"structure": True} if structure else {}
        return self.run_model(TABLE_MODEL, Scope.SLIDE if whole else Scope.VIEWPORT, overrides)

    # -- heat maps ----------------------------------------------------------------------
    def show_heatmap(self, tab: SlideTab, run_id: str, path: str) -> HeatmapLayer | None:
        slide = self._slide_ai(tab)
        layer = slide.heatmaps.get(run_id)
        if layer is None:
            try:
                layer = HeatmapLayer(path, name=run_id, colour_map=self.colour_map, parent=self)
            except HeatmapError as error:
                self._say(str(error))
                return None
            layer.opacity = self.heatmap_opacity
            layer.repaint_needed.connect(tab.view.update)
            slide.heatmaps[run_id] = layer
            view = tab.view
            others = view.overlays()  # the map goes under the annotation outlines
            for other in others:
                view.remove_overlay(other)
            view.add_overlay(layer)
            for other in others:
                view.add_overlay(other)
        layer.visible = True
        tab.view.update()
        if self.window.current_tab() is tab:
            self.runs_panel.set_map_shown(run_id, True)
        return layer

    def heatmaps(self, tab: SlideTab | None = None) -> dict[str, HeatmapLayer]:
        tab = tab or self.window.current_tab()
        return {} if tab is None else dict(self._slide_ai(tab).heatmaps)

    def _toggle_heatmap(self, run_id: str, path: str, shown: bool) -> None:
        tab = self.window.current_tab()
        if tab is None:
            return
        if shown and path:
            self.show_heatmap(tab, run_id, path)
            return
        self._hide_heatmap(tab, run_id)

    def _hide_heatmap(self, tab: SlideTab, run_id: str) -> None:
        layer = self._slide_ai(tab).heatmaps.pop(run_id, None)
        if layer is not None:
            tab.view.remove_overlay(layer)
            layer.close()

    def set_heatmap_opacity(self, opacity: float) -> None:
        self.heatmap_opacity = opacity
        for slide in self._slides.values():
            for layer in slide.heatmaps.values():
                layer.opacity = opacity
            slide.view.update()

    def set_colour_map(self, name: str) -> None:
        self.colour_map = name
        for slide in self._slides.values():
            for layer in slide.heatmaps.values():
                layer.set_colour_map(name)

    # -- NuClick ------------------------------------------------------------------------
    def _use_nuclick(self, model_id: str) -> None:
        self.activate_nuclick(model_id)

    def activate_nuclick(self, model_id: str = NUCLICK_MODEL) -> NuClickTool | None:
        tab = self.window.current_tab()
        session = self.annotations.session_for(tab)
        annotations = self.annotations.slide_for(tab)
        if tab is None or session is None or annotations is None:
            return None
        slide = self._slide_ai(tab)
        if slide.nuclick is None or slide.nuclick.model_id != model_id:
            if slide.nuclick is not None:
                slide.nuclick.close()
            slide.nuclick = NuClickTool(
                session, annotations.overlay, model_id=model_id, status=self._say
            )
        self.nuclick_action.setChecked(True)
        if tab.view.tool is not slide.nuclick:
            tab.view.set_tool(slide.nuclick)
        tab.view.setFocus()
        return slide.nuclick

    def nuclick_tool(self, tab: SlideTab | None = None) -> NuClickTool | None:
        tab = tab or self.window.current_tab()
        return None if tab is None else self._slide_ai(tab).nuclick

    # -- helpers ------------------------------------------------------------------------
    def _tab_alive(self, tab: SlideTab) -> bool:
        return id(tab) in self._slides or tab in self.window.slide_tabs()

    def _say(self, message: str) -> None:
        try:
            self.window.statusBar().showMessage(message, 8000)
        except RuntimeError:  # a late message after the window was deleted
            log.info("%s", message)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.runs_panel.set_store(None)  # the stores close with the window
            self.cancel_all()
            for job in self.jobs:  # let workers close their stores before the window goes
                job.wait(SHUTDOWN_WAIT_S)
        return False
