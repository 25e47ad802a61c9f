"""Annotations in the main window: a tool bar, Edit/File/View menu entries, the class and
annotation docks, and one session (store + overlay + tools) per open slide.

The main window only creates this object; everything annotation-specific lives here, so the
window stays a thin composer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QMenu, QToolBar

from tilescope.engine.annotations.errors import AnnotationFormatError, AnnotationStoreError
from tilescope.engine.annotations.formats import read_annotations
from tilescope.engine.annotations.model import Annotation
from tilescope.gui.annotations.class_panel import ClassPanel
from tilescope.gui.annotations.file_io import (
    EXPORT_FORMATS,
    IMPORT_FILTER,
    add_imported,
    export_annotations,
)
from tilescope.gui.annotations.list_panel import AnnotationListPanel
from tilescope.gui.annotations.overlay_layer import AnnotationOverlay
from tilescope.gui.annotations.session import AnnotationSession
from tilescope.gui.background import run_in_background
from tilescope.gui.tools import DEFAULT_TOOL, TOOLS, TOOLS_BY_NAME, AnnotationTool

if TYPE_CHECKING:
    from tilescope.gui.main_window import MainWindow
    from tilescope.gui.viewer.slide_tab import SlideTab
    from tilescope.gui.viewer.slide_view import SlideView

log = logging.getLogger(__name__)


@dataclass
class SlideAnnotations:
    """What one open slide has: its session, its overlay and its tool instances."""

    session: AnnotationSession
    overlay: AnnotationOverlay
    view: SlideView
    tools: dict[str, AnnotationTool] = field(default_factory=dict)

    def tool(self, name: str) -> AnnotationTool:
        if name not in self.tools:
            self.tools[name] = TOOLS_BY_NAME[name].tool_class(self.session, self.overlay)
        return self.tools[name]

    def close(self) -> None:
        self.view.set_tool(None)
        self.view.remove_overlay(self.overlay)
        self.overlay.close()
        self.session.close()


class AnnotationUi(QObject):
    session_opened = Signal(object)  # SlideTab whose annotations are ready

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._slides: dict[int, SlideAnnotations] = {}
        self._tabs: dict[int, SlideTab] = {}
        self.tool_name = DEFAULT_TOOL
        self._create_actions()
        self._build_toolbar()
        self._build_docks()
        self._build_menus()
        window.slide_opened.connect(self._open_session)
        window.tabs.currentChanged.connect(lambda _: self._follow_current())
        window.installEventFilter(self)
        self._follow_current()

    # -- actions ------------------------------------------------------------------------
    def _create_actions(self) -> None:
        window = self.window
        self.tool_actions: dict[str, QAction] = {}
        self.tool_group = QActionGroup(window)
        self.tool_group.setExclusive(True)
        for spec in TOOLS:
            action = QAction(spec.label, window)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(spec.shortcut))
            action.setToolTip(f"{spec.label} ({spec.shortcut}): {spec.tip}")
            action.setStatusTip(spec.tip)
            action.triggered.connect(partial(self.set_tool, spec.name))
            self.tool_group.addAction(action)
            self.tool_actions[spec.name] = action
        self.tool_actions[DEFAULT_TOOL].setChecked(True)
        self.undo_action = QAction("&Undo", window)
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.undo_action.triggered.connect(self.undo)
        self.redo_action = QAction("&Redo", window)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.triggered.connect(self.redo)
        self.delete_action = QAction("&Delete Selected Objects", window)
        self.delete_action.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.Delete), QKeySequence("Backspace")]
        )
        self.delete_action.triggered.connect(self.delete_selected)
        self.select_none_action = QAction("Select &None", window)
        self.select_none_action.triggered.connect(self._select_none)
        self.show_action = QAction("Show &Annotations", window)
        self.show_action.setCheckable(True)
        self.show_action.setChecked(True)
        self.show_action.setShortcut(QKeySequence("A"))  # QuPath: A toggles annotations
        self.show_action.toggled.connect(self._show_overlays)
        self.import_action = QAction("&Import Annotations…", window)
        self.import_action.setShortcut(QKeySequence("Ctrl+Shift+I"))
        self.import_action.triggered.connect(self.choose_import)
        self.clip_imports_action = QAction("&Clip Imported Annotations to the Slide", window)
        self.clip_imports_action.setCheckable(True)
        self.clip_imports_action.setChecked(True)
        self.clip_imports_action.setStatusTip(
            "Objects outside the slide (a file made for another slide?) are clipped or left "
            "out; untick to keep them as they are"
        )
        self.export_actions: dict[str, QAction] = {}
        for name, (text, _, _) in EXPORT_FORMATS.items():
            action = QAction(text, window)
            action.triggered.connect(partial(self.choose_export, name))
            self.export_actions[name] = action
        self.export_menu = QMenu("&Export Annotations", window)
        for action in self.export_actions.values():
            self.export_menu.addAction(action)
        for action in (*self.tool_actions.values(), self.delete_action, self.show_action):
            window.addAction(action)  # shortcuts work while the menus are closed

    def _build_toolbar(self) -> None:
        self.toolbar = QToolBar("Annotation tools", self.window)
        self.toolbar.setObjectName("annotation-tools")
        for action in self.tool_actions.values():
            self.toolbar.addAction(action)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.undo_action)
        self.toolbar.addAction(self.redo_action)
        self.window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)

    def _build_docks(self) -> None:
        self.class_panel = ClassPanel()
        self.class_panel.overlay_opacity_changed.connect(self._set_overlay_opacity)
        self.list_panel = AnnotationListPanel()
        self.list_panel.activated.connect(self.centre_on)
        self.class_dock = QDockWidget("Classes", self.window)
        self.class_dock.setObjectName("classes-dock")
        self.class_dock.setWidget(self.class_panel)
        self.list_dock = QDockWidget("Annotations", self.window)
        self.list_dock.setObjectName("annotations-dock")
        self.list_dock.setWidget(self.list_panel)
        self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.class_dock)
        self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.list_dock)

    def _build_menus(self) -> None:
        bar = self.window.menuBar()
        menus = {a.text().replace("&", ""): a for a in bar.actions() if a.menu() is not None}
        file_menu = menus["File"].menu() if "File" in menus else bar.addMenu("&File")
        assert isinstance(file_menu, QMenu)
        close = self.window.actions_.close_tab
        file_menu.insertAction(close, self.import_action)
        file_menu.insertAction(close, self.clip_imports_action)
        file_menu.insertMenu(close, self.export_menu)
        file_menu.insertSeparator(close)
        edit_menu = QMenu("&Edit", self.window)
        for action in (self.undo_action, self.redo_action):
            edit_menu.addAction(action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.delete_action)
        edit_menu.addAction(self.select_none_action)
        view_action = menus.get("View")
        if view_action is not None:
            bar.insertMenu(view_action, edit_menu)
        else:
            bar.addMenu(edit_menu)
        tools_menu = QMenu("&Tools", self.window)
        for action in self.tool_actions.values():
            tools_menu.addAction(action)
        help_action = menus.get("Help")
        if help_action is not None:
            bar.insertMenu(help_action, tools_menu)
        else:
            bar.addMenu(tools_menu)
        if view_action is not None and isinstance(view_action.menu(), QMenu):
            view_menu = view_action.menu()
            assert isinstance(view_menu, QMenu)
            view_menu.addSeparator()
            view_menu.addAction(self.show_action)
            view_menu.addAction(self.class_dock.toggleViewAction())
            view_menu.addAction(self.list_dock.toggleViewAction())

    # -- sessions -----------------------------------------------------------------------
    def _open_session(self, tab: SlideTab) -> None:
        """Open the slide's store in the background (hashing the file may take a moment)."""
        path = Path(tab.path)
        if not path.exists():
            log.info("%s: not a file; no annotation store", path)
            return
        key = id(tab)
        self._tabs[key] = tab
        tab.destroyed.connect(partial(self._forget, key))
        from tilescope.engine.annotations.store import AnnotationStore

        run_in_background(
            partial(AnnotationStore.for_slide, path, scene=tab.view.source.scene),
            partial(self._session_ready, key),
            partial(self._session_failed, path),
        )

    def _session_ready(self, key: int, store: object) -> None:
        tab = self._tabs.get(key)
        if tab is None:  # closed while the store was opening
            store.close()  # type: ignore[attr-defined]
            return
        mpp = tab.view.source.metadata.mpp
        session = AnnotationSession(store, mpp)  # type: ignore[arg-type]
        overlay = AnnotationOverlay(session)
        overlay.visible = self.show_action.isChecked()
        overlay.opacity = self.class_panel.overlay_opacity.value() / 100
        overlay.repaint_needed.connect(tab.view.update)
        session.history_changed.connect(self._update_actions)
        session.selection_changed.connect(self._update_actions)
        session.edit_refused.connect(partial(self._edit_refused, session, Path(tab.path).name))
        if session.read_only:  # a shared project on a read-only disk: viewing still works
            self.window.statusBar().showMessage(
                f"{Path(tab.path).name}: annotations are read-only (opened for viewing only)"
            )
        tab.view.add_overlay(overlay)
        slide = SlideAnnotations(session, overlay, tab.view)
        self._slides[key] = slide
        tab.view.set_tool(slide.tool(self.tool_name))
        if self.window.current_tab() is tab:
            self._follow_current()
        self.session_opened.emit(tab)

    def _edit_refused(self, session: AnnotationSession, name: str, message: str) -> None:
        """The store refused an edit (read-only, locked, disk full): say why, change nothing.
        The cause comes first (the store's long path is in the log)."""
        cause = message.removeprefix(f"{session.store.path}: ")
        self.window.statusBar().showMessage(f"Not saved ({name}): {cause}", 15000)

    def _session_failed(self, path: Path, error: BaseException) -> None:
        if isinstance(error, (AnnotationStoreError, OSError)):
            self.window.report_error("Cannot open the annotations", f"{path}: {error}")
        else:
            log.exception("opening the annotations of %s", path, exc_info=error)
            self.window.report_error("Cannot open the annotations", f"{path}: {error}")

    def _forget(self, key: int, *_: object) -> None:
        self._tabs.pop(key, None)
        slide = self._slides.pop(key, None)
        if slide is not None:
            try:
                slide.overlay.close()
            finally:
                slide.session.close()

    def close_all(self) -> None:
        """Release every store (the window is closing; all edits are already committed)."""
        for key in list(self._slides):
            slide = self._slides.pop(key)
            slide.overlay.close()
            slide.session.close()
        self._tabs.clear()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.close_all()
        return False

    def slide_for(self, tab: SlideTab | None) -> SlideAnnotations | None:
        return None if tab is None else self._slides.get(id(tab))

    def session_for(self, tab: SlideTab | None) -> AnnotationSession | None:
        slide = self.slide_for(tab)
        return None if slide is None else slide.session

    def current(self) -> SlideAnnotations | None:
        return self.slide_for(self.window.current_tab())

    def _follow_current(self) -> None:
        slide = self.current()
        session = slide.session if slide is not None else None
        self.class_panel.set_session(session)
        self.list_panel.set_session(session)
        if slide is not None:
            slide.overlay.visible = self.show_action.isChecked()
            slide.view.set_tool(slide.tool(self.tool_name))
            self.tool_actions[self.tool_name].setChecked(True)
        self._update_actions()

    def _update_actions(self) -> None:
        slide = self.current()
        history = slide.session.history if slide is not None else None
        # Undo stays enabled with a slide open: it also takes back polygon vertices.
        self.undo_action.setEnabled(history is not None)
        self.redo_action.setEnabled(history is not None and history.can_redo)
        if history is not None:
            self.undo_action.setText(f"&Undo {history.undo_label or ''}".rstrip())
            self.redo_action.setText(f"&Redo {history.redo_label or ''}".rstrip())
        has = slide is not None
        self.delete_action.setEnabled(has and bool(slide.session.selection))  # type: ignore[union-attr]
        self.import_action.setEnabled(has)
        for action in self.export_actions.values():
            action.setEnabled(has)

    # -- commands -----------------------------------------------------------------------
    def set_tool(self, name: str, *_: object) -> None:
        self.tool_name = name
        self.tool_actions[name].setChecked(True)
        slide = self.current()
        if slide is not None:
            slide.view.set_tool(slide.tool(name))
            slide.view.setFocus()

    def active_tool(self) -> AnnotationTool | None:
        """The tool of the current view (also one added by another panel, e.g. NuClick)."""
        slide = self.current()
        tool = None if slide is None else slide.view.tool
        return tool if isinstance(tool, AnnotationTool) else None

    def undo(self) -> None:
        slide = self.current()
        if slide is None:
            return
        tool = self.active_tool()
        if tool is not None and tool.undo_step():  # e.g. the last vertex of a polygon
            return
        slide.session.undo()

    def redo(self) -> None:
        slide = self.current()
        if slide is not None:
            slide.session.redo()

    def delete_selected(self) -> None:
        slide = self.current()
        if slide is None:
            return
        tool = self.active_tool()
        if tool is not None and tool.undo_step():  # Backspace while drawing a polygon
            return
        slide.session.delete_selected()

    def _select_none(self) -> None:
        slide = self.current()
        if slide is not None:
            slide.session.clear_selection()

    def _show_overlays(self, visible: bool) -> None:
        for slide in self._slides.values():
            slide.overlay.set_visible(visible)

    def _set_overlay_opacity(self, opacity: float) -> None:
        for slide in self._slides.values():
            slide.overlay.set_opacity(opacity)

    def centre_on(self, annotation: Annotation) -> None:
        """Centre the current view on an object, zooming out if it does not fit."""
        slide = self.current()
        if slide is None:
            return
        view = slide.view
        x0, y0, x1, y1 = annotation.geometry.bounds
        t = view.transform
        needed = max((x1 - x0) / t.width, (y1 - y0) / t.height) * 1.2
        if needed > t.downsample:
            view.set_transform(t.zoomed_to(needed))
        view.center_on((x0 + x1) / 2, (y0 + y1) / 2)

    # -- files --------------------------------------------------------------------------
    def choose_import(self) -> None:
        if self.current() is None:
            return
        dialog = QFileDialog(self.window, "Import annotations", "", IMPORT_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.filesSelected.connect(
            lambda paths: [self.import_file(p, background=True) for p in paths]
        )
        dialog.open()

    def import_file(self, path: str | Path, *, background: bool = False) -> int:
        """Import into the current slide; a bad file is reported and changes nothing.

        With `background` the file is parsed in a worker thread and the objects are added
        when it is done (returns 0 at once; the status bar tells the count)."""
        slide = self.current()
        if slide is None:
            return 0
        session = slide.session
        bounds = self._slide_size()
        if background:
            self.window.statusBar().showMessage(f"Reading {Path(path).name}…")
            run_in_background(
                partial(read_annotations, path, bounds=bounds),
                partial(self._add_imported, session, path),
                partial(self._import_failed, path),
            )
            return 0
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            found = read_annotations(path, bounds=bounds)
            added = add_imported(session, path, found)
        except (AnnotationFormatError, AnnotationStoreError, OSError, ValueError) as error:
            self._import_failed(path, error)
            return 0
        finally:
            QApplication.restoreOverrideCursor()
        self._imported(path, added, found.notes)
        return added

    def _add_imported(self, session: AnnotationSession, path: str | Path, found: object) -> None:
        if session.closed:
            return
        try:
            added = add_imported(session, path, found)  # type: ignore[arg-type]
        except (AnnotationStoreError, ValueError) as error:
            self._import_failed(path, error)
            return
        self._imported(path, added, getattr(found, "notes", []))

    def _imported(self, path: str | Path, added: int, notes: list[str] | None = None) -> None:
        text = f"Imported {added:,} objects from {Path(path).name}"
        if notes:  # repaired polygons, objects clipped to the slide: one line each
            text += " (" + "; ".join(notes) + ")"
        self.window.statusBar().showMessage(text, 10000)

    def _slide_size(self) -> tuple[int, int] | None:
        """Level-0 (width, height) of the current slide: imports are clipped to it."""
        tab = self.window.current_tab()
        if tab is None or not self.clip_imports_action.isChecked():
            return None
        level = tab.view.source.metadata.levels[0]
        return int(level.width), int(level.height)

    def _import_failed(self, path: str | Path, error: BaseException) -> None:
        message = str(error) if str(Path(path)) in str(error) else f"{path}: {error}"
        self.window.report_error("Cannot import annotations", message)

    def choose_export(self, format: str, *_: object) -> None:
        slide = self.current()
        if slide is None:
            return
        _text, file_filter, suffix = EXPORT_FORMATS[format]
        tab = self.window.current_tab()
        stem = tab.path.stem if tab is not None else "annotations"
        if format == "tables":  # a folder of <slide>.table-<n>.csv/.html files
            dialog = QFileDialog(self.window, "Export table grids to a folder")
            dialog.setFileMode(QFileDialog.FileMode.Directory)
            dialog.fileSelected.connect(
                lambda path: self.export_file(path, format, background=True)
            )
            dialog.open()
            return
        dialog = QFileDialog(self.window, "Export annotations", f"{stem}{suffix}", file_filter)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(suffix.lstrip("."))
        dialog.fileSelected.connect(lambda path: self.export_file(path, format, background=True))
        dialog.open()

    def export_file(self, path: str | Path, format: str, *, background: bool = False) -> bool:
        """Export the current slide's objects; errors are reported, never raised.

        With `background` the file is written in a worker thread (a million detections take
        a while) and the result is reported in the status bar when done."""
        slide = self.current()
        if slide is None:
            return False
        session = slide.session
        tab = self.window.current_tab()
        name = Path(tab.path).name if tab is not None else ""
        size = None
        if tab is not None:
            level = tab.view.source.metadata.levels[0]
            size = (int(level.width), int(level.height))
        export = partial(export_annotations, session, path, format, size, name)
        if background:
            self.window.statusBar().showMessage(f"Exporting to {Path(path).name}…")
            run_in_background(
                export,
                partial(self._exported, path),
                partial(self._export_failed, path),
            )
            return True
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            notes = export()
        except (AnnotationFormatError, AnnotationStoreError, OSError, ValueError) as error:
            self._export_failed(path, error)
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self._exported(path, notes)
        return True

    def _exported(self, path: str | Path, notes: list[str]) -> None:
        text = f"Exported to {Path(path).name}"
        if notes:
            text += " (" + "; ".join(notes) + ")"
        self.window.statusBar().showMessage(text, 8000)

    def _export_failed(self, path: str | Path, error: BaseException) -> None:
        message = str(error) if str(Path(path)) in str(error) else f"{path}: {error}"
        self.window.report_error("Cannot export annotations", message)
