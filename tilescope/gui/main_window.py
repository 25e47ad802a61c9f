"""The main window: composes menus, tabs of slides, the status bar; opens files."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QTabWidget, QWidget

from tilescope import __version__
from tilescope.engine.about import about
from tilescope.engine.errors import TilescopeError
from tilescope.engine.slide import SlideSource, open_slide
from tilescope.engine.slide.opener import registered_backends
from tilescope.gui.actions import Actions, create_actions
from tilescope.gui.ai.ai_ui import AiUi
from tilescope.gui.analysis.analysis_ui import AnalysisUi
from tilescope.gui.annotations.window_ui import AnnotationUi
from tilescope.gui.background import run_in_background
from tilescope.gui.recent_files import RecentFiles, RecentFilesMenu
from tilescope.gui.viewer.associated_images import AssociatedImagesDialog
from tilescope.gui.viewer.pixel_size import (
    load_pixel_size,
    pixel_size_of,
    set_pixel_size,
    show_pixel_size,
    status_text,
)
from tilescope.gui.viewer.pixel_size_dialog import PixelSizeDialog
from tilescope.gui.viewer.scene_selector import SceneSelector, tab_title
from tilescope.gui.viewer.slide_tab import SlideTab
from tilescope.gui.viewer.slide_view import SlideView
from tilescope.gui.viewer.status_bar import ViewStatusBar

log = logging.getLogger(__name__)

FILE_FILTER = (
    "Slides and images (*.svs *.ndpi *.mrxs *.scn *.bif *.vms *.dcm *.tif *.tiff *.ome.tif "
    "*.ome.tiff *.zarr *.png *.jpg *.jpeg *.bmp);;All files (*)"
)


def open_source(path: str, scene: int = 0) -> SlideSource:
    """Open and read the metadata (the slow part) in the background thread that calls this,
    then apply the pixel size set for the slide (Image > Set Pixel Size...)."""
    source = open_slide(path, scene=scene)
    _ = source.metadata
    try:
        load_pixel_size(source)
    except (OSError, TilescopeError) as error:  # no store to read: the file's size stands
        log.warning("%s: pixel size set for the slide not read: %s", path, error)
    return source


class MainWindow(QMainWindow):
    slide_opened = Signal(object)  # SlideTab
    error_reported = Signal(str)  # the message shown to the user

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("tilescope")
        self.resize(1280, 820)
        self.setAcceptDrops(True)
        self.recent = RecentFiles()
        self.actions_ = create_actions(self)
        self._create_image_actions()
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._on_current_changed)
        self.scenes = SceneSelector()
        self.scenes.scene_chosen.connect(self.show_scene)
        self.tabs.setCornerWidget(self.scenes, Qt.Corner.TopRightCorner)
        self._scene_wanted: dict[int, int] = {}  # id(tab) -> scene being opened in its place
        self.setCentralWidget(self.tabs)
        self.status = ViewStatusBar(self)
        self.setStatusBar(self.status)
        self._build_menus(self.actions_)
        self._connect(self.actions_)
        self.annotations = AnnotationUi(self)  # tools, class/annotation docks, menus
        self.ai = AiUi(self)  # models, jobs, runs, heat maps, NuClick, table detection
        self.analysis = AnalysisUi(self)  # cell measurements, object classifier, summaries
        self._on_current_changed()

    # -- opening ------------------------------------------------------------------------
    def open_paths(self, paths: Iterable[str | Path]) -> None:
        """Open each file in the background; each arrives as a new tab (or an error box)."""
        # Register the slide backends here, once, before two opens race to do it in two
        # threads (the opener's lazy registration is not thread-safe).
        registered_backends()
        for path in paths:
            text = str(path)
            self.status.showMessage(f"Opening {Path(text).name}…", 3000)
            run_in_background(
                partial(open_source, text), self._add_tab, partial(self._open_failed, text)
            )

    def choose_files(self) -> None:
        dialog = QFileDialog(self, "Open slides or images", "", FILE_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.filesSelected.connect(self.open_paths)
        dialog.open()

    def _add_tab(self, source: SlideSource, at: int | None = None) -> SlideTab:
        self.status.clearMessage()
        tab = SlideTab(source)
        tab.minimap.setVisible(self.actions_.show_minimap.isChecked())
        tab.view.tile_error.connect(lambda message: self.status.showMessage(message, 8000))
        count = source.metadata.scene_count
        title = tab_title(source.path.name, source.scene, count)
        index = self.tabs.addTab(tab, title) if at is None else self.tabs.insertTab(at, tab, title)
        tip = str(source.path) + (f" (scene {source.scene} of {count})" if count > 1 else "")
        self.tabs.setTabToolTip(index, tip)
        self.tabs.setCurrentIndex(index)
        tab.view.setFocus()
        self.recent.add(source.path)
        self.slide_opened.emit(tab)
        return tab

    def _open_failed(self, path: str, error: BaseException) -> None:
        log.info("opening %s failed", path, exc_info=error)
        message = _open_error_text(path, error)
        self.report_error("Cannot open file", message)

    def report_error(self, title: str, message: str) -> None:
        """Show an error without blocking (window-modal box); tests may replace this hook.

        Logged too: support asks for the log file, and a dialog closed is otherwise gone.
        """
        log.warning("%s: %s", title, message)
        box = QMessageBox(
            QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.error_reported.emit(message)

    # -- tabs ---------------------------------------------------------------------------
    def current_tab(self) -> SlideTab | None:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, SlideTab) else None

    def current_view(self) -> SlideView | None:
        tab = self.current_tab()
        return tab.view if tab is not None else None

    def slide_tabs(self) -> list[SlideTab]:
        return [
            w for i in range(self.tabs.count()) if isinstance(w := self.tabs.widget(i), SlideTab)
        ]

    def close_tab(self, index: int) -> None:
        widget = self.tabs.widget(index)
        self._scene_wanted.pop(id(widget), None)
        self.tabs.removeTab(index)
        if isinstance(widget, SlideTab):
            widget.close_slide()
            widget.deleteLater()

    def _on_current_changed(self, *_: object) -> None:
        view = self.current_view()
        self.status.follow(view)
        has_view = view is not None
        for action in (
            self.actions_.close_tab,
            self.actions_.zoom_in,
            self.actions_.zoom_out,
            self.actions_.fit,
            self.actions_.one_to_one,
        ):
            action.setEnabled(has_view)
        for action in self.actions_.magnifications.values():
            action.setEnabled(has_view and view is not None and view.magnification() is not None)
        self.actions_.associated_images.setEnabled(
            has_view and view is not None and bool(view.source.metadata.associated_images)
        )
        tab = self.current_tab()
        self.setWindowTitle(f"{tab.path.name} — tilescope" if tab else "tilescope")
        self.set_pixel_size_action.setEnabled(tab is not None)
        scenes = view.source.metadata.scene_count if view is not None else 1
        self.scenes.show_scenes(scenes, view.source.scene if view is not None else 0)
        for action in (self.next_scene_action, self.previous_scene_action):
            action.setEnabled(scenes > 1)
        self.status.show_pixel_size(
            status_text(pixel_size_of(view.source)) if view is not None else ""
        )

    # -- menus --------------------------------------------------------------------------
    def _build_menus(self, a: Actions) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(a.open)
        file_menu.addMenu(RecentFilesMenu(self.recent, lambda p: self.open_paths([p]), self))
        file_menu.addSeparator()
        file_menu.addAction(a.close_tab)
        file_menu.addAction(a.quit)
        view_menu = self.menuBar().addMenu("&View")
        for action in (a.zoom_in, a.zoom_out, a.fit, a.one_to_one):
            view_menu.addAction(action)
        magnification = view_menu.addMenu("&Magnification")
        for action in a.magnifications.values():
            magnification.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(a.show_minimap)
        view_menu.addAction(a.associated_images)
        image_menu = self.menuBar().addMenu("&Image")
        image_menu.addAction(self.set_pixel_size_action)
        image_menu.addSeparator()
        image_menu.addAction(self.next_scene_action)
        image_menu.addAction(self.previous_scene_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(a.about)

    def _connect(self, a: Actions) -> None:
        a.open.triggered.connect(self.choose_files)
        a.close_tab.triggered.connect(lambda: self.close_tab(self.tabs.currentIndex()))
        a.quit.triggered.connect(self.close)
        a.zoom_in.triggered.connect(lambda: self._with_view(lambda v: v.zoom_by(2**0.5)))
        a.zoom_out.triggered.connect(lambda: self._with_view(lambda v: v.zoom_by(2**-0.5)))
        a.fit.triggered.connect(lambda: self._with_view(SlideView.fit))
        a.one_to_one.triggered.connect(lambda: self._with_view(SlideView.zoom_one_to_one))
        for mag, action in a.magnifications.items():
            action.triggered.connect(
                lambda _=False, m=mag: self._with_view(lambda v: v.zoom_to_magnification(m))
            )
        a.show_minimap.toggled.connect(self._show_minimaps)
        a.associated_images.triggered.connect(self.show_associated_images)
        a.about.triggered.connect(self._about)

    # -- image: pixel size and scenes ----------------------------------------------------
    def _create_image_actions(self) -> None:
        self.set_pixel_size_action = QAction("Set &Pixel Size…", self)
        self.set_pixel_size_action.setStatusTip(
            "Give the slide its size in µm per pixel (kept with its annotations)"
        )
        self.set_pixel_size_action.triggered.connect(self.ask_pixel_size)
        self.next_scene_action = QAction("&Next Scene", self)
        self.next_scene_action.setShortcut(QKeySequence("Alt+PgDown"))
        self.next_scene_action.triggered.connect(lambda: self._step_scene(1))
        self.previous_scene_action = QAction("P&revious Scene", self)
        self.previous_scene_action.setShortcut(QKeySequence("Alt+PgUp"))
        self.previous_scene_action.triggered.connect(lambda: self._step_scene(-1))
        for action in (self.next_scene_action, self.previous_scene_action):
            self.addAction(action)

    def ask_pixel_size(self) -> PixelSizeDialog | None:
        """Open Image > Set Pixel Size... for the current slide (window-modal)."""
        tab = self.current_tab()
        if tab is None:
            return None
        dialog = PixelSizeDialog(tab.path.name, pixel_size_of(tab.view.source), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_pixel_size(tab, dialog.result_mpp))
        dialog.open()
        return dialog

    def apply_pixel_size(self, tab: SlideTab, mpp: float | None) -> bool:
        """Store `mpp` (None: forget) for the tab's slide and show it at once in every tab of
        that file: scale bar, status bar, annotation areas and measurements."""
        try:
            size = set_pixel_size(tab.view.source, mpp)
        except (OSError, TilescopeError) as error:
            self.report_error("Cannot set the pixel size", f"{tab.path}: {error}")
            return False
        for other in self.slide_tabs():
            if other is not tab and other.path == tab.path:
                show_pixel_size(other.view.source, mpp)
        for other in self.slide_tabs():
            if other.path == tab.path:
                self._pixel_size_changed(other)
        self._on_current_changed()
        self.status.showMessage(f"{tab.path.name}: {size.describe()}", 6000)
        return True

    def _pixel_size_changed(self, tab: SlideTab) -> None:
        tab.scale_bar.update()
        mpp = tab.view.source.metadata.mpp
        session = self.annotations.session_for(tab)
        if session is not None:
            session.mpp = mpp
            if self.annotations.session_for(self.current_tab()) is session:
                self.annotations.list_panel.refresh()
                self.annotations.list_panel.show_details()
        tab.view.update()

    def show_scene(self, scene: int) -> None:
        """Show another scene (page) of the current tab's file in its place, opened in the
        background; the tab's annotations follow (each scene keeps its own)."""
        tab = self.current_tab()
        if tab is None or scene == tab.view.source.scene:
            return
        count = tab.view.source.metadata.scene_count
        if not 0 <= scene < count:
            return
        self._scene_wanted[id(tab)] = scene
        self.status.showMessage(f"Opening scene {scene} of {tab.path.name}…", 3000)
        run_in_background(
            partial(open_source, str(tab.path), scene),
            partial(self._scene_opened, tab),
            partial(self._scene_failed, tab, scene),
        )

    def _scene_failed(self, tab: SlideTab, scene: int, error: BaseException) -> None:
        if self._scene_wanted.get(id(tab)) == scene:
            del self._scene_wanted[id(tab)]
        self._on_current_changed()  # the selector shows the scene the tab still has
        self._open_failed(f"{tab.path} (scene {scene})", error)

    def _scene_opened(self, old: SlideTab, source: SlideSource) -> None:
        index = self.tabs.indexOf(old)
        if index < 0 or self._scene_wanted.get(id(old)) != source.scene:
            source.close()  # the tab was closed, or another scene was asked for since
            return
        del self._scene_wanted[id(old)]
        self._add_tab(source, at=index)
        self.close_tab(self.tabs.indexOf(old))

    def _step_scene(self, step: int) -> None:
        view = self.current_view()
        if view is not None:
            count = view.source.metadata.scene_count
            self.show_scene(min(max(view.source.scene + step, 0), count - 1))

    def _with_view(self, act: Callable[[SlideView], object]) -> None:
        view = self.current_view()
        if view is not None:
            act(view)

    def _show_minimaps(self, visible: bool) -> None:
        for tab in self.slide_tabs():
            tab.minimap.setVisible(visible)

    def show_associated_images(self) -> AssociatedImagesDialog | None:
        view = self.current_view()
        if view is None:
            return None
        dialog = AssociatedImagesDialog(view.source, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _about(self) -> None:
        # Probing ONNX Runtime's providers can load CUDA libraries: off the GUI thread.
        run_in_background(about, self._show_about, partial(self._open_failed, "About"))

    def _show_about(self, info: dict[str, object]) -> None:
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion

        rows = {
            "tilescope": __version__,
            "Qt": f"{qVersion()} (PySide6 {pyside_version})",
            "OpenSlide": info.get("openslide"),
            "ONNX Runtime": info.get("onnxruntime"),
            "Execution providers": ", ".join(map(str, info.get("onnxruntime_providers") or [])),  # type: ignore[call-overload]
            "Python": info.get("python"),
            "Settings": info.get("settings_folder"),
            "Data and models": info.get("data_folder"),
            "Logs": info.get("log_folder"),
        }
        text = "".join(f"<b>{k}</b>: {v}<br>" for k, v in rows.items())
        box = QMessageBox(QMessageBox.Icon.Information, "About tilescope", text, parent=self)
        box.setObjectName("about-tilescope")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- drag and drop ------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if _local_paths(event.mimeData().urls()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        if _local_paths(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = _local_paths(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        while self.tabs.count():
            self.close_tab(0)
        super().closeEvent(event)


def _open_error_text(path: str, error: BaseException) -> str:
    """One line with the true cause (permission denied, disk full...) naming the file."""
    from tilescope.engine.errors import as_user_error, one_line
    from tilescope.engine.log_setup import log_file_path

    known = as_user_error(error)
    if known is None:
        return (
            f"{path}: unexpected {type(error).__name__}: {one_line(error)} "
            f"(details in {log_file_path()})"
        )
    text = one_line(known)
    return text if path in text else f"{path}: {text}"


def _local_paths(urls: Iterable[object]) -> list[str]:
    from PySide6.QtCore import QUrl

    return [u.toLocalFile() for u in urls if isinstance(u, QUrl) and u.isLocalFile()]
