"""The class list (a dock): colours from the store, per-class visibility and opacity (view
state), the class new objects get, and "set class" for the selection; plus the opacity of the
whole annotation overlay."""

from __future__ import annotations

import contextlib

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from tilescope.engine.annotations import class_list
from tilescope.gui.annotations.session import AnnotationSession

UNCLASSIFIED = "Unclassified"
_NAME_ROLE = Qt.ItemDataRole.UserRole


def colour_icon(colour: tuple[int, int, int]) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(*colour))
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)  # the true colour on a selected row too
    return icon


class ClassPanel(QWidget):
    overlay_opacity_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: AnnotationSession | None = None
        self.list = QListWidget()
        self.list.setToolTip(
            "Tick to show or hide a class; the selected class is given to new objects; "
            "double-click sets the class of the selected objects"
        )
        self.list.currentItemChanged.connect(self._on_current_item)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.itemDoubleClicked.connect(lambda item: self.set_class_of_selection())
        add = QPushButton("Add…")
        add.clicked.connect(self._ask_add)
        rename = QPushButton("Rename…")
        rename.clicked.connect(self._ask_rename)
        colour = QPushButton("Colour…")
        colour.clicked.connect(self._ask_colour)
        assign = QPushButton("Set selected")
        assign.setToolTip("Give the selected objects this class")
        assign.clicked.connect(self.set_class_of_selection)
        self.class_opacity = QSlider(Qt.Orientation.Horizontal)
        self.class_opacity.setRange(0, 100)
        self.class_opacity.setValue(100)
        self.class_opacity.setToolTip("Opacity of this class (view only)")
        self.class_opacity.valueChanged.connect(self._on_class_opacity)
        self.overlay_opacity = QSlider(Qt.Orientation.Horizontal)
        self.overlay_opacity.setRange(0, 100)
        self.overlay_opacity.setValue(100)
        self.overlay_opacity.setToolTip("Opacity of all annotations")
        self.overlay_opacity.valueChanged.connect(
            lambda v: self.overlay_opacity_changed.emit(v / 100)
        )
        buttons = QHBoxLayout()
        for button in (add, rename, colour, assign):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class opacity"))
        row.addWidget(self.class_opacity)
        layout.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("All annotations"))
        row.addWidget(self.overlay_opacity)
        layout.addLayout(row)
        self.setEnabled(False)

    # -- session ------------------------------------------------------------------------
    def set_session(self, session: AnnotationSession | None) -> None:
        if self.session is not None:
            for signal in (self.session.styles_changed, self.session.store_changed):
                with contextlib.suppress(RuntimeError, TypeError):
                    signal.disconnect(self._on_session_changed)
        self.session = session
        self.setEnabled(session is not None)
        if session is not None:
            session.styles_changed.connect(self._on_session_changed)
            session.store_changed.connect(self._on_session_changed)
        self.refresh()

    def _on_session_changed(self, *_: object) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list from the store's classes, keeping the current row."""
        session = self.session
        current = self.current_class()
        self.list.blockSignals(True)
        try:
            self.list.clear()
            if session is None:
                return
            # The user's class list first (QuPath's defaults on first start), then the
            # slide's own classes; a stored class shows its stored colour.
            user = {c.name: c.colour for c in class_list.classes()}
            stored = session.styles.colours
            names: list[str | None] = [None, *user, *sorted(set(stored) - set(user))]
            for name in names:
                style = session.styles.style(name)
                colour = stored.get(name) or user.get(name) or style.colour  # type: ignore[arg-type]
                item = QListWidgetItem(colour_icon(colour), name or UNCLASSIFIED)
                item.setData(_NAME_ROLE, name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    Qt.CheckState.Checked if style.visible else Qt.CheckState.Unchecked
                )
                self.list.addItem(item)
                if name == (current if current is not None else session.current_class):
                    self.list.setCurrentItem(item)
        finally:
            self.list.blockSignals(False)
        self._sync_opacity_slider()

    def current_class(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else item.data(_NAME_ROLE)

    def item_for(self, name: str | None) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(_NAME_ROLE) == name:
                return item
        return None

    # -- actions (the buttons' dialogs end here; tests call these directly) -------------
    def add_class(self, name: str, colour: tuple[int, int, int] | None = None) -> None:
        """Add a class to this slide and to the user's class list (every slide)."""
        if self.session is not None and name.strip():
            if colour is not None:
                class_list.set_colour(name.strip(), colour)
            if self.session.set_class(name.strip(), colour):
                self.select_class(name.strip())

    def rename_class(self, old: str, new: str) -> None:
        if self.session is not None and new.strip() and old != new.strip():
            class_list.rename(old, new.strip())
            if self.session.rename_class(old, new.strip()):
                self.select_class(new.strip())

    def set_colour(self, name: str, colour: tuple[int, int, int]) -> None:
        """A class's colour on this slide and, through the user's class list, on every slide."""
        class_list.set_colour(name, colour)
        if self.session is not None and self.session.set_class(name, colour):
            self.refresh()

    def select_class(self, name: str | None) -> None:
        self.refresh()
        item = self.item_for(name)
        if item is not None:
            self.list.setCurrentItem(item)

    def set_class_visible(self, name: str | None, visible: bool) -> None:
        item = self.item_for(name)
        if item is not None:
            item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)

    def set_class_of_selection(self) -> int:
        if self.session is None:
            return 0
        return self.session.set_class_of_selected(self.current_class())

    # -- dialogs ------------------------------------------------------------------------
    def _ask_add(self) -> None:
        name, ok = QInputDialog.getText(self, "Add class", "Class name:")
        if ok:
            self.add_class(name)

    def _ask_rename(self) -> None:
        old = self.current_class()
        if old is None:
            return
        new, ok = QInputDialog.getText(self, "Rename class", "New name:", text=old)
        if ok:
            self.rename_class(old, new)

    def _ask_colour(self) -> None:
        name = self.current_class()
        if name is None or self.session is None:
            return
        colour = QColorDialog.getColor(self.session.styles.style(name).qcolor(), self, name)
        if colour.isValid():
            self.set_colour(name, (colour.red(), colour.green(), colour.blue()))

    # -- reactions ----------------------------------------------------------------------
    def _on_current_item(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if self.session is not None and item is not None:
            self.session.set_current_class(item.data(_NAME_ROLE))
        self._sync_opacity_slider()

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self.session is not None:
            visible = item.checkState() == Qt.CheckState.Checked
            name = item.data(_NAME_ROLE)
            if self.session.styles.is_visible(name) != visible:
                self.session.set_class_visible(name, visible)

    def _on_class_opacity(self, value: int) -> None:
        if self.session is not None and self.list.currentItem() is not None:
            self.session.set_class_opacity(self.current_class(), value / 100)

    def _sync_opacity_slider(self) -> None:
        if self.session is None:
            return
        self.class_opacity.blockSignals(True)
        self.class_opacity.setValue(
            round(100 * self.session.styles.style(self.current_class()).opacity)
        )
        self.class_opacity.blockSignals(False)
