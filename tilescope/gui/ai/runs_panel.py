"""The runs dock: the model runs recorded in the current slide's store, with show/hide,
delete, and the run's probability heat map (on/off, colour map, opacity)."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSlider,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tilescope.engine import user_dirs
from tilescope.engine.annotations.events import ChangeEvent
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.inference.job import HEATMAP_KEY
from tilescope.gui.ai.colormap import COLOUR_MAPS

log = logging.getLogger(__name__)

_RUN_ROLE = Qt.ItemDataRole.UserRole
COL_MODEL, COL_OBJECTS, COL_MAP, COL_TIME = range(4)
REFRESH_DELAY_MS = 300  # a running job commits often; recount at most this often


def remove_run_output(zarr_path: Path) -> None:
    """Remove a GUI run's folder (map, GeoJSON), but only inside our own cache folder."""
    folder = zarr_path.parent
    cache = (user_dirs.cache_dir() / "inference").resolve()
    if folder.resolve().is_relative_to(cache) and folder.resolve() != cache:
        shutil.rmtree(folder, ignore_errors=True)


class RunsPanel(QWidget):
    heatmap_toggled = Signal(str, str, bool)  # run id, zarr path, shown
    colour_map_changed = Signal(str)
    heatmap_opacity_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: AnnotationStore | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._shown_maps: set[str] = set()
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Model", "Objects", "Map", "Time"])
        self.tree.setRootIsDecorated(False)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_MODEL, QHeaderView.ResizeMode.Stretch)
        for column in (COL_OBJECTS, COL_MAP, COL_TIME):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.delete_button = QPushButton("Delete run")
        self.delete_button.clicked.connect(self.delete_current)
        self.colour_map = QComboBox()
        self.colour_map.addItems(list(COLOUR_MAPS))
        self.colour_map.currentTextChanged.connect(self.colour_map_changed)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.valueChanged.connect(lambda v: self.heatmap_opacity_changed.emit(v / 100))
        self.hint = QLabel("Tick a run to show its objects; tick Heat map to show its map.")
        self.hint.setWordWrap(True)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        maps = QHBoxLayout()
        maps.addWidget(QLabel("Heat map"))
        maps.addWidget(self.colour_map)
        maps.addWidget(QLabel("opacity"))
        maps.addWidget(self.opacity, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.hint)
        layout.addLayout(maps)
        layout.addWidget(self.delete_button)
        self._update_buttons()

    # -- session ------------------------------------------------------------------------
    def set_store(self, store: AnnotationStore | None, shown_maps: set[str] | None = None) -> None:
        """Follow another slide's store (None: no slide); `shown_maps`: its visible maps."""
        self.store = store
        self._shown_maps = set(shown_maps or ())
        self._timer.stop()
        self.refresh()

    def on_store_changed(self, event: ChangeEvent) -> None:
        if event.runs_changed or event.added or event.removed:
            self._timer.start()

    def set_map_shown(self, run_id: str, shown: bool) -> None:
        (self._shown_maps.add if shown else self._shown_maps.discard)(run_id)
        self.refresh()

    # -- content ------------------------------------------------------------------------
    def refresh(self) -> None:
        current = self.current_run_id()
        self.tree.blockSignals(True)
        try:
            self.tree.clear()
            store = self.store
            if store is None:
                return
            try:
                runs = store.runs()
            except Exception as error:  # closed with its slide, or busy: show nothing
                log.info("runs of %s: %s", store.path, error)
                self.store = None
                return
            for run in reversed(runs):  # newest first
                count = store.count(run_id=run.run_id, include_hidden_runs=True)
                created = dt.datetime.fromtimestamp(run.created_at)
                item = QTreeWidgetItem(["", "", "", ""])
                item.setText(COL_MODEL, run.model_id)
                item.setText(COL_OBJECTS, f"{count:,}")
                item.setText(COL_TIME, created.strftime("%H:%M:%S"))
                item.setToolTip(COL_TIME, created.strftime("%Y-%m-%d %H:%M:%S"))
                item.setData(0, _RUN_ROLE, run.run_id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    COL_MODEL, Qt.CheckState.Unchecked if run.hidden else Qt.CheckState.Checked
                )
                item.setToolTip(COL_MODEL, f"run {run.run_id}\nparameters: {run.parameters}")
                if store.get_metadata(f"{HEATMAP_KEY}{run.run_id}"):
                    shown = run.run_id in self._shown_maps
                    state = Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked
                    item.setCheckState(COL_MAP, state)
                self.tree.addTopLevelItem(item)
                if run.run_id == current:
                    self.tree.setCurrentItem(item)
        finally:
            self.tree.blockSignals(False)
            self._update_buttons()

    def run_ids(self) -> list[str]:
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [str(item.data(0, _RUN_ROLE)) for item in items if item is not None]

    def item_for(self, run_id: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and item.data(0, _RUN_ROLE) == run_id:
                return item
        return None

    def current_run_id(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else str(item.data(0, _RUN_ROLE))

    # -- commands -----------------------------------------------------------------------
    def set_run_visible(self, run_id: str, visible: bool) -> None:
        if self.store is not None:
            self.store.set_run_hidden(run_id, not visible)
            self.refresh()

    def delete_run(self, run_id: str) -> int:
        """Delete the run's objects and its output folder in the cache; returns the count."""
        if self.store is None:
            return 0
        removed = self.store.delete_run(run_id)
        path = self.store.get_metadata(f"{HEATMAP_KEY}{run_id}") or ""
        if run_id in self._shown_maps:
            self._shown_maps.discard(run_id)
            self.heatmap_toggled.emit(run_id, path, False)
        if path:
            remove_run_output(Path(path))
        self.refresh()
        return removed

    def delete_current(self) -> None:
        run_id = self.current_run_id()
        item = self.tree.currentItem()
        if run_id is None or self.store is None or item is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete run",
            f"Delete the run of {item.text(COL_MODEL)} ({item.toolTip(COL_TIME)}) and its "
            f"{item.text(COL_OBJECTS)} objects?",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_run(run_id)

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        run_id = str(item.data(0, _RUN_ROLE))
        checked = item.checkState(column) == Qt.CheckState.Checked
        if column == COL_MODEL:
            self.set_run_visible(run_id, checked)
        elif column == COL_MAP and self.store is not None:
            path = self.store.get_metadata(f"{HEATMAP_KEY}{run_id}") or ""
            (self._shown_maps.add if checked else self._shown_maps.discard)(run_id)
            self.heatmap_toggled.emit(run_id, path, checked)

    def _update_buttons(self) -> None:
        self.delete_button.setEnabled(self.current_run_id() is not None)
