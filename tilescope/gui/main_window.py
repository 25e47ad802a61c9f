"""The main window: composes menus, tabs of slides, the status bar; opens files."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QTabWidget, QWidget

from tilescope import __version__
from tilescope.engine.about import about
from tilescope.engine.slide import SlideError, SlideSource, open_slide
from tilescope.engine.slide.opener import registered_backends
from tilescope.gui.actions import Actions, create_actions
from tilescope.gui.ai.ai_ui import AiUi
from tilescope.gui.analysis.analysis_ui import AnalysisUi
from tilescope.gui.annotations.window_ui import AnnotationUi
from tilescope.gui.associated_images import AssociatedImagesDialog
from tilescope.gui.background import run_in_background
from tilescope.gui.recent_files import RecentFiles, RecentFilesMenu
from tilescope.gui.slide_tab import SlideTab
from tilescope.gui.slide_view import SlideView
from tilescope.gui.status_bar import ViewStatusBar

log = logging.getLogger(__name__)

FILE_FILTER = (
    "Slides and images (*.svs *.ndpi *.mrxs *.scn *.bif *.vms *.dcm *.tif *.tiff *.ome.tif "
    "*.ome.tiff *.zarr *.png *.jpg *.jpeg *.bmp);;All files (*)"
)


def open_source(path: str) -> SlideSource:
    """Open and read the metadata (the slow part) in the background thread that calls this."""
    source = open_slide(path)
    _ = source.metadata
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
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._on_current_changed)
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

    def _add_tab(self, source: SlideSource) -> None:
        self.status.clearMessage()
        tab = SlideTab(source)
        tab.minimap.setVisible(self.actions_.show_minimap.isChecked())
        tab.view.tile_error.connect(lambda message: self.status.showMessage(message, 8000))
        index = self.tabs.addTab(tab, source.path.name)
        self.tabs.setTabToolTip(index, str(source.path))
        self.tabs.setCurrentIndex(index)
        tab.view.setFocus()
        self.recent.add(source.path)
        self.slide_opened.emit(tab)

    def _open_failed(self, path: str, error: BaseException) -> None:
        log.info("opening %s failed", path, exc_info=error)
        message = str(error) if isinstance(error, SlideError) else f"{path}: {error}"
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


def _local_paths(urls: Iterable[object]) -> list[str]:
    from PySide6.QtCore import QUrl

    return [u.toLocalFile() for u in urls if isinstance(u, QUrl) and u.isLocalFile()]
