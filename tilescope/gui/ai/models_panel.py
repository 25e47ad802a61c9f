"""The models dock: installed models (bundled and the user's), their card and run buttons.

Buttons ask; the controller (`AiUi`) decides what "viewport" or "selection" means for the
current slide and starts the job. Folders that are not usable models are listed greyed with
the reason, so a user who dropped a broken model in the folder sees why it is missing.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tilescope.gui.ai.model_card import ModelCard, model_kind
from tilescope.plugins.manifest import ModelManifest

_MANIFEST_ROLE = Qt.ItemDataRole.UserRole
#: Selected first when nothing else is: the automatic nuclei model for H&E.
DEFAULT_MODEL = "nuclei-he"


class Scope:
    VIEWPORT = "viewport"
    SELECTION = "selection"
    SLIDE = "slide"


class ModelsPanel(QWidget):
    run_requested = Signal(str, str, dict)  # model id, Scope, parameter overrides
    nuclick_requested = Signal(str)  # model id of a prompted model

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.currentItemChanged.connect(self._on_current)
        self.card = ModelCard()
        self.structure = QCheckBox("Find cells (structure)")
        self.structure.setToolTip("Table models: also outline the cells of ruled tables")
        self.run_viewport = QPushButton("Run on viewport")
        self.run_selection = QPushButton("Run on selected annotation")
        self.run_slide = QPushButton("Run on whole slide")
        self.use_tool = QPushButton("Use NuClick tool")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for models in the model folders again")
        self.run_viewport.clicked.connect(lambda: self._request(Scope.VIEWPORT))
        self.run_selection.clicked.connect(lambda: self._request(Scope.SELECTION))
        self.run_slide.clicked.connect(lambda: self._request(Scope.SLIDE))
        self.use_tool.clicked.connect(self._request_tool)
        self.refresh_button.clicked.connect(self.refresh)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.list)
        splitter.addWidget(self.card)
        splitter.setSizes([140, 260])
        buttons = QVBoxLayout()
        for button in (self.run_viewport, self.run_selection, self.run_slide, self.use_tool):
            buttons.addWidget(button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.structure)
        bottom.addStretch(1)
        bottom.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        layout.addLayout(buttons)
        self._has_slide = False
        self.refresh()

    # -- content ------------------------------------------------------------------------
    def refresh(self) -> None:
        from tilescope.plugins.catalog import scan

        current = self.current_model()
        self.list.clear()
        for entry in scan():
            if entry.manifest is None:
                item = QListWidgetItem(f"{entry.folder.name} (not usable)")
                item.setToolTip(entry.error or "")
                item.setForeground(QColor("gray"))
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            else:
                item = QListWidgetItem(entry.manifest.name)
                item.setToolTip(f"{entry.manifest.id} — {entry.folder}")
                item.setData(_MANIFEST_ROLE, entry.manifest)
            self.list.addItem(item)
        ids = self.model_ids()
        if ids:
            fallback = DEFAULT_MODEL if DEFAULT_MODEL in ids else ids[0]
            self.select_model(current.id if current and current.id in ids else fallback)
        self._update_buttons()

    def model_ids(self) -> list[str]:
        return [m.id for m in self.manifests()]

    def manifests(self) -> list[ModelManifest]:
        found = (self.list.item(i).data(_MANIFEST_ROLE) for i in range(self.list.count()))
        return [m for m in found if isinstance(m, ModelManifest)]

    def current_model(self) -> ModelManifest | None:
        item = self.list.currentItem()
        manifest = item.data(_MANIFEST_ROLE) if item is not None else None
        return manifest if isinstance(manifest, ModelManifest) else None

    def select_model(self, model_id: str) -> bool:
        for i in range(self.list.count()):
            manifest = self.list.item(i).data(_MANIFEST_ROLE)
            if isinstance(manifest, ModelManifest) and manifest.id == model_id:
                self.list.setCurrentRow(i)
                return True
        return False

    def set_slide_available(self, available: bool, has_selection: bool = False) -> None:
        self._has_slide = available
        self._has_selection = has_selection
        self._update_buttons()

    # -- internals ----------------------------------------------------------------------
    def _on_current(self, *_: object) -> None:
        self.card.show_model(self.current_model())
        self._update_buttons()

    def _update_buttons(self) -> None:
        manifest = self.current_model()
        kind = model_kind(manifest) if manifest is not None else None
        runnable = self._has_slide and kind in ("tiles", "whole")
        self.run_viewport.setEnabled(runnable)
        self.run_selection.setEnabled(runnable and getattr(self, "_has_selection", False))
        self.run_slide.setEnabled(runnable)
        self.use_tool.setVisible(kind == "prompted")
        self.use_tool.setEnabled(self._has_slide)
        takes_structure = manifest is not None and "structure" in manifest.parameters
        self.structure.setVisible(takes_structure)

    def _request(self, scope: str) -> None:
        manifest = self.current_model()
        if manifest is None:
            return
        overrides: dict[str, object] = {}
        if "structure" in manifest.parameters and self.structure.isChecked():
            overrides["structure"] = True
        self.run_requested.emit(manifest.id, scope, overrides)

    def _request_tool(self) -> None:
        manifest = self.current_model()
        if manifest is not None:
            self.nuclick_requested.emit(manifest.id)
