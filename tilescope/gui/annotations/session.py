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
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import shapely
from PySide6.QtCore import QObject, QTimer, Signal
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.errors import AnnotationStoreError
from tilescope.engine.annotations.events import ChangeEvent
from tilescope.engine.annotations.history import EditHistory
from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.gui.annotations.styles import StyleTable

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 1000  # how often edits by other processes (a CLI run) are looked for
CLOSE_WAIT_S = 30.0  # how long closing waits for a worker still reading the store
HIT_TOLERANCE_PX = 4.0  # a click this close to an outline (screen pixels) hits it


class AnnotationSession(QObject):
    """One slide's annotation state. Close it when the slide closes."""

    store_changed = Signal(object)  # ChangeEvent, delivered on the GUI thread
    selection_changed = Signal()
    styles_changed = Signal()
    current_class_changed = Signal(object)  # str | None
    history_changed = Signal()

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
        self._selection: set[str] = set()
        self._current_class: str | None = None
        self._closed = False
        self._users = 0  # worker threads inside `using()`
        self._users_changed = threading.Condition()
        # The store calls back in the committing thread; a signal hops to the GUI thread.
        self._relay_event = _EventRelay(self)
        self._relay_event.changed.connect(self._on_store_event)
        self._unsubscribe = store.subscribe(self._relay_event.changed.emit)
        self._unsubscribe_history = self.history.subscribe(self.history_changed.emit)
        if mpp is not None and store.get_metadata("mpp") is None:
            store.set_metadata("mpp", repr(float(mpp[0])))
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
        if event.removed and self._selection & event.removed:
            self._selection -= event.removed
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
        return frozenset(self._selection)

    def select(self, ids: Iterable[str], *, add: bool = False) -> None:
        new = set(ids)
        if add:
            new |= self._selection
        if new != self._selection:
            self._selection = new
            self.selection_changed.emit()

    def toggle(self, annotation_id: str) -> None:
        self.select(self._selection ^ {annotation_id})

    def clear_selection(self) -> None:
        self.select(())

    def selected_objects(self) -> list[Annotation]:
        return self.store.get_many(sorted(self._selection)) if self._selection else []

    # -- finding objects ----------------------------------------------------------------
    def object_at(self, x: float, y: float, downsample: float) -> Annotation | None:
        """The visible object under a level-0 point: the smallest one whose shape contains it,
        else the nearest outline or point within a few screen pixels."""
        tol = HIT_TOLERANCE_PX * downsample
        found = [
            a
            for a in self.store.query((x - tol, y - tol, x + tol, y + tol))
            if self.styles.is_visible(a.class_name)
        ]
        if not found:
            return None
        geoms = np.array([a.geometry for a in found], dtype=object)
        point = shapely.Point(x, y)
        inside = shapely.contains(geoms, point) & (shapely.area(geoms) > 0)
        if inside.any():
            candidates = np.flatnonzero(inside)
            areas = shapely.area(geoms[candidates])
            return found[int(candidates[int(np.argmin(areas))])]
        distances = shapely.distance(geoms, point)
        best = int(np.argmin(distances))
        return found[best] if distances[best] <= tol else None

    def objects_within(self, x0: float, y0: float, x1: float, y1: float) -> list[str]:
        """Ids of visible objects lying wholly inside a level-0 rectangle (rubber band)."""
        box = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        found = [a for a in self.store.query(box.bounds) if self.styles.is_visible(a.class_name)]
        if not found:
            return []
        geoms = np.array([a.geometry for a in found], dtype=object)
        inside = shapely.covers(box, geoms)
        return [a.id for a, hit in zip(found, inside, strict=True) if hit]

    # -- edits (each one undoable step, committed at once) -----------------------------
    def add_shape(self, geometry: BaseGeometry, shape_type: str, label: str) -> Annotation:
        annotation = Annotation(
            geometry=geometry,
            shape_type=ShapeType(shape_type),
            class_name=self._current_class,
            kind=ObjectKind.ANNOTATION,
        )
        self.history.add(annotation, label)
        return annotation

    def update_objects(self, annotations: list[Annotation], label: str) -> None:
        if annotations:
            self.history.update(annotations, label)

    def delete_selected(self) -> int:
        ids = sorted(self._selection)
        if not ids:
            return 0
        removed = self.history.remove(ids, "Delete")
        self._selection.clear()
        self.selection_changed.emit()
        return len(removed)

    def set_class_of_selected(self, name: str | None) -> int:
        objects = self.selected_objects()
        if not objects:
            return 0
        if name is not None and name not in self.styles.colours:
            self.store.set_class(name)
        self.history.update([a.evolve(class_name=name) for a in objects], "Set class")
        return len(objects)

    def undo(self) -> bool:
        return self.history.undo() is not None

    def redo(self) -> bool:
        return self.history.redo() is not None


class _EventRelay(QObject):
    changed = Signal(object)  # ChangeEvent
