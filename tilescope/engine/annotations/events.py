"""Batched change notifications of the store: plain Python callbacks, no Qt.

One edit call (or one `store.transaction()` block) produces one event, whatever the number of
objects, so a viewer repaints once after deleting 5,000 nuclei. Callbacks run in the thread that
committed the edit (or called `store.poll()`); a Qt viewer re-emits them as a queued signal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """What changed in one committed transaction (or, `external`, since the last poll)."""

    added: frozenset[str] = frozenset()
    updated: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    classes_changed: bool = False
    runs_changed: bool = False
    external: bool = False  # written by another process (seen by `poll`)
    version: int = 0  # the store version after the change

    @property
    def empty(self) -> bool:
        return not (
            self.added or self.updated or self.removed or self.classes_changed or self.runs_changed
        )


@dataclass
class PendingChange:
    """Changes collected inside one open transaction."""

    added: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    classes_changed: bool = False
    runs_changed: bool = False

    def note_added(self, ids: list[str]) -> None:
        if not self.removed:
            self.added.update(ids)
            return
        for id_ in ids:
            if id_ in self.removed:  # removed then re-added in one transaction
                self.removed.discard(id_)
                self.updated.add(id_)
            else:
                self.added.add(id_)

    def note_updated(self, ids: list[str]) -> None:
        self.updated.update(i for i in ids if i not in self.added)

    def note_removed(self, ids: list[str]) -> None:
        for id_ in ids:
            if id_ in self.added:
                self.added.discard(id_)
            else:
                self.updated.discard(id_)
                self.removed.add(id_)

    def to_event(self, version: int) -> ChangeEvent:
        return ChangeEvent(
            added=frozenset(self.added),
            updated=frozenset(self.updated),
            removed=frozenset(self.removed),
            classes_changed=self.classes_changed,
            runs_changed=self.runs_changed,
            version=version,
        )


Listener = Callable[[ChangeEvent], None]


class Listeners:
    """Thread-safe list of callbacks; a failing callback is logged and does not stop the rest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Listener] = []

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Add a callback; returns a function that removes it again."""
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def __len__(self) -> int:
        """How many callbacks listen (a bulk edit builds no event detail for nobody)."""
        with self._lock:
            return len(self._callbacks)

    def emit(self, event: ChangeEvent) -> None:
        if event.empty:
            return
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(event)
            except Exception:
                log.exception("annotation change listener %r failed", callback)
