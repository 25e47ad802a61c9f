"""The annotations of one open slide: store, undo history, selection and display state.

Every completed edit goes through `EditHistory`, which writes to the store at once (the store
is the save). Store change events (from any thread, or from other processes seen by `poll`)
arrive here as one queued Qt signal per transaction, so the overlay and the panels refresh once
however many objects changed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QObject, QTimer, Signal
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.editor import AnnotationEditor
from tilescope.engine.annotations.errors import AnnotationStoreError
from tilescope.engine.annotations.events import ChangeEvent
from tilescope.engine.annotations.history import EditHistory
from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.errors import one_line
from tilescope.gui.annotations.styles import StyleTable

log = logging.getLogger(__name__)
_T = TypeVar("_T")

POLL_INTERVAL_MS = 1000  # how often edits by other processes (a CLI run) are looked for
CLOSE_WAIT_S = 30.0  # how long closing waits for a worker still reading the store


class AnnotationSession(QObject):
    """One slide's annotation state. Close it when the slide closes.

    Selection, hit-testing and edits are the engine's `AnnotationEditor`; this class adds the
    display state (styles, current class), store polling and the Qt signals."""

    store_changed = Signal(object)  # ChangeEvent, delivered on the GUI thread
    selection_changed = Signal()
    styles_changed = Signal()
    current_class_changed = Signal(object)  # str | None
    history_changed = Signal()
    # One line when the store refused an edit (read-only, locked, disk full): the edit was
    # not made, the window says so in its status bar.
    edit_refused = Signal(str)

    def __init__(
        self,
        store: AnnotationStore,
        mpp: tuple[float, float] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.history = EditHistory(store)
        self.mpp = mpp
        self.styles = StyleTable()
        self.styles.set_colours({c.name: c.colour for c in store.classes()})
        self.editor = AnnotationEditor(store, self.history, visible=self.styles.is_visible)
        self._current_class: str | None = None
        self._closed = False
        self._users = 0  # worker threads inside `using()`
        self._users_changed = threading.Condition()
        # The store calls back in the committing thread; a signal hops to the GUI thread.
        self._relay_event = _EventRelay(self)
        self._relay_event.changed.connect(self._on_store_event)
        self._unsubscribe = store.subscribe(self._relay_event.changed.emit)
        self._unsubscribe_history = self.history.subscribe(self.history_changed.emit)
        if mpp is not None and not store.read_only and store.get_metadata("mpp") is None:
            try:
                store.set_metadata("mpp", repr(float(mpp[0])))
            except AnnotationStoreError as error:  # locked or full: a nicety, not needed
                log.warning("%s", error)
        # PRAGMA data_version is per connection: take this thread's baseline now (the store
        # may have been opened in a worker thread), or the first poll rescans every object.
        self.poll()
        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(POLL_INTERVAL_MS)
        self._poll_timer.timeout.connect(self.poll)
        self._poll_timer.start()

    @classmethod
    def for_slide(
        cls, slide_path: str | Path, mpp: tuple[float, float] | None = None
    ) -> AnnotationSession:
        return cls(AnnotationStore.for_slide(slide_path), mpp)

    # -- lifetime -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def read_only(self) -> bool:
        """The store opened for viewing only (read-only file, folder or disk)."""
        return self.store.read_only

    @contextlib.contextmanager
    def using(self) -> Iterator[AnnotationStore]:
        """Use the store from a worker thread: `close` waits for such users to finish, so
        no connection is closed under a running query. Raises AnnotationStoreError once
        the session is closed."""
        with self._users_changed:
            if self._closed:
                raise AnnotationStoreError(f"{self.store.path}: the store is closed")
            self._users += 1
        try:
            yield self.store
        finally:
            with self._users_changed:
                self._users -= 1
                self._users_changed.notify_all()

    def close(self) -> None:
        with self._users_changed:
            if self._closed:
                return
            self._closed = True
            if not self._users_changed.wait_for(lambda: self._users == 0, CLOSE_WAIT_S):
                log.warning("%s: closing while a worker still reads it", self.store.path)
        with contextlib.suppress(RuntimeError):  # the timer may already be gone at exit
            self._poll_timer.stop()
        self._unsubscribe()
        self._unsubscribe_history()
        self.store.close()

    def poll(self) -> ChangeEvent | None:
        """Pick up objects written by other processes (e.g. `tilescope infer`)."""
        if self._closed:
            return None
        try:
            return self.store.poll()
        except Exception as error:  # a busy or vanished file must not stop the viewer
            log.warning("polling %s: %s", self.store.path, error)
            return None

    def _on_store_event(self, event: ChangeEvent) -> None:
        if self._closed:
            return
        if event.classes_changed:
            self.styles.set_colours({c.name: c.colour for c in self.store.classes()})
            self.styles_changed.emit()
        if event.removed and self.editor.forget(event.removed):
            self.selection_changed.emit()
        self.store_changed.emit(event)

    # -- classes ------------------------------------------------------------------------
    @property
    def current_class(self) -> str | None:
        """The class new objects get (None: unclassified)."""
        return self._current_class

    def set_current_class(self, name: str | None) -> None:
        if name != self._current_class:
            self._current_class = name
            self.current_class_changed.emit(name)

    def set_class_visible(self, name: str | None, visible: bool) -> None:
        self.styles.set_visible(name, visible)
        self.styles_changed.emit()

    def set_class_opacity(self, name: str | None, opacity: float) -> None:
        self.styles.set_opacity(name, opacity)
        self.styles_changed.emit()

    # -- selection ----------------------------------------------------------------------
    @property
    def selection(self) -> frozenset[str]:
        return self.editor.selection

    def select(self, ids: Iterable[str], *, add: bool = False) -> None:
        if self.editor.select(ids, add=add):
            self.selection_changed.emit()

    def toggle(self, annotation_id: str) -> None:
        if self.editor.toggle(annotation_id):
            self.selection_changed.emit()

    def clear_selection(self) -> None:
        if self.editor.clear_selection():
            self.selection_changed.emit()

    def selected_objects(self) -> list[Annotation]:
        return self.editor.selected_objects()

    # -- finding objects ----------------------------------------------------------------
    def object_at(self, x: float, y: float, downsample: float) -> Annotation | None:
        """The visible object under a level-0 point (see `AnnotationEditor.object_at`)."""
        return self.editor.object_at(x, y, downsample)

    def objects_within(self, x0: float, y0: float, x1: float, y1: float) -> list[str]:
        """Ids of visible objects lying wholly inside a level-0 rectangle (rubber band)."""
        return self.editor.objects_within(x0, y0, x1, y1)

    # -- edits (each one undoable step, committed at once) -----------------------------
    # A refused edit (AnnotationStoreError: read-only, locked, disk full) changes nothing and
    # emits `edit_refused`; the tools go on as if nothing was drawn.
    def _refusing(self, edit: Callable[[], _T], refused: _T) -> _T:
        try:
            return edit()
        except AnnotationStoreError as error:
            log.info("edit refused: %s", error)
            self.edit_refused.emit(one_line(error))
            return refused

    def add_shape(self, geometry: BaseGeometry, shape_type: str, label: str) -> Annotation:
        """The new object; when the store refuses, the same object, not stored."""
        unsaved = Annotation(
            geometry=geometry,
            shape_type=ShapeType(shape_type),
            class_name=self._current_class,
            kind=ObjectKind.ANNOTATION,
        )
        return self._refusing(
            lambda: self.editor.add_shape(geometry, shape_type, label, self._current_class),
            unsaved,
        )

    def update_objects(self, annotations: list[Annotation], label: str) -> None:
        self._refusing(lambda: self.editor.update_objects(annotations, label), None)

    def delete_selected(self) -> int:
        had = bool(self.editor.selection)
        removed = self._refusing(self.editor.delete_selected, 0)
        if had and not self.editor.selection:
            self.selection_changed.emit()
        return removed

    def set_class_of_selected(self, name: str | None) -> int:
        return self._refusing(
            lambda: self.editor.set_class_of_selected(name, self.styles.colours), 0
        )

    def set_class(self, name: str, colour: tuple[int, int, int] | None = None) -> bool:
        """Create a class or change its colour on this slide; False when refused."""

        def edit() -> bool:
            self.store.set_class(name, colour)
            return True

        return self._refusing(edit, False)

    def rename_class(self, old: str, new: str) -> bool:
        return self._refusing(lambda: self.store.rename_class(old, new) is not None, False)

    def undo(self) -> bool:
        return self._refusing(lambda: self.history.undo() is not None, False)

    def redo(self) -> bool:
        return self._refusing(lambda: self.history.redo() is not None, False)


class _EventRelay(QObject):
    changed = Signal(object)  # ChangeEvent
