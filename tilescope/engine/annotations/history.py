"""Undo/redo of edits made through the store (per session, in memory).

Each step remembers the objects it touched as they were before and after, so undoing a batch
(deleting 5,000 nuclei, reclassifying a selection, merging two regions) is one step and one
store transaction. The store stays the truth: undo writes the old objects back; objects another
process changed in between are simply overwritten with the remembered state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tilescope.engine.annotations.model import Annotation
from tilescope.engine.annotations.store import AnnotationStore


@dataclass(frozen=True, slots=True)
class EditStep:
    """One undoable step: the touched objects before and after (absent = did not exist)."""

    label: str
    before: tuple[Annotation, ...]
    after: tuple[Annotation, ...]

    @property
    def size(self) -> int:
        return len({a.id for a in self.before} | {a.id for a in self.after})


def _merge(first: EditStep, second: EditStep, label: str) -> EditStep:
    """One step equivalent to `first` then `second`."""
    before = {a.id: a for a in first.before}
    first_touched = {a.id for a in first.before} | {a.id for a in first.after}
    for a in second.before:
        if a.id not in first_touched:
            before[a.id] = a
    after = {a.id: a for a in first.after}
    second_touched = {a.id for a in second.before} | {a.id for a in second.after}
    for id_ in second_touched:
        after.pop(id_, None)
    after.update((a.id, a) for a in second.after)
    return EditStep(label, tuple(before.values()), tuple(after.values()))


class EditHistory:
    """Make edits undoable: call its methods instead of the store's for user edits."""

    def __init__(self, store: AnnotationStore, max_steps: int = 200) -> None:
        self.store = store
        self.max_steps = max_steps
        self._undo: list[EditStep] = []
        self._redo: list[EditStep] = []
        self._group: list[EditStep] | None = None
        self._lock = threading.RLock()
        self._callbacks: list[Callable[[], None]] = []

    # ----------------------------------------------------------------- edits

    def add(self, annotations: Annotation | Iterable[Annotation], label: str = "Add") -> list[str]:
        items = [annotations] if isinstance(annotations, Annotation) else list(annotations)
        self._apply(EditStep(label, (), tuple(items)))
        return [a.id for a in items]

    def remove(self, ids: str | Iterable[str], label: str = "Delete") -> list[str]:
        wanted = [ids] if isinstance(ids, str) else list(ids)
        before = tuple(self.store.get_many(wanted))
        if before:
            self._apply(EditStep(label, before, ()))
        return [a.id for a in before]

    def update(self, annotations: Annotation | Iterable[Annotation], label: str = "Edit") -> None:
        items = [annotations] if isinstance(annotations, Annotation) else list(annotations)
        before = self.store.get_many(a.id for a in items)
        missing = {a.id for a in items} - {a.id for a in before}
        if missing:
            raise KeyError(f"no annotation with id {sorted(missing)[0]} in {self.store.path}")
        self._apply(EditStep(label, tuple(before), tuple(items)))

    def replace(
        self, remove_ids: Iterable[str], add: Iterable[Annotation], label: str = "Replace"
    ) -> None:
        """Remove some objects and add others as one step (merge, split, subtract)."""
        before = tuple(self.store.get_many(remove_ids))
        self._apply(EditStep(label, before, tuple(add)))

    @contextmanager
    def group(self, label: str) -> Iterator[None]:
        """Make every edit inside the block one undo step (and one store transaction)."""
        with self._lock:
            if self._group is not None:  # nested: the outer group collects
                yield
                return
            self._group = []
            try:
                with self.store.transaction():
                    yield
            except BaseException:
                self._group = None
                raise
            steps, self._group = self._group, None
            if steps:
                merged = steps[0]
                for step in steps[1:]:
                    merged = _merge(merged, step, label)
                self._push(EditStep(label, merged.before, merged.after))

    # ----------------------------------------------------------------- undo / redo

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    def undo(self) -> EditStep | None:
        """Revert the last step; returns it (None when there is nothing to undo)."""
        with self._lock:
            if not self._undo:
                return None
            step = self._undo[-1]
            _write(self.store, step.after, step.before)
            self._redo.append(self._undo.pop())
        self._changed()
        return step

    def redo(self) -> EditStep | None:
        with self._lock:
            if not self._redo:
                return None
            step = self._redo[-1]
            _write(self.store, step.before, step.after)
            self._undo.append(self._redo.pop())
        self._changed()
        return step

    def clear(self) -> None:
        with self._lock:
            self._undo.clear()
            self._redo.clear()
        self._changed()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Called after every change of the undo/redo stacks (to enable menu items)."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    # ----------------------------------------------------------------- internals

    def _apply(self, step: EditStep) -> None:
        with self._lock:
            _write(self.store, step.before, step.after)
            if self._group is not None:
                self._group.append(step)
                return
            self._push(step)

    def _push(self, step: EditStep) -> None:
        self._undo.append(step)
        del self._undo[: -self.max_steps]
        self._redo.clear()
        self._changed()

    def _changed(self) -> None:
        for callback in list(self._callbacks):
            callback()


def _write(
    store: AnnotationStore, current: tuple[Annotation, ...], target: tuple[Annotation, ...]
) -> None:
    """Bring the objects of a step from the `current` state to the `target` state atomically."""
    target_ids = {a.id for a in target}
    gone = [a.id for a in current if a.id not in target_ids]
    with store.transaction():
        if gone:
            store.remove_many(gone)
        if target:
            present = store.existing_ids(target_ids)
            store.update_many(a for a in target if a.id in present)
            store.add_many([a for a in target if a.id not in present])
