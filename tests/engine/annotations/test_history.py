"""Undo/redo: batch edits are one step; the store is always the truth."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely

from tests.engine.annotations.helpers import drawn_shapes, nuclei
from tilescope.engine.annotations.history import EditHistory
from tilescope.engine.annotations.store import AnnotationStore


@pytest.fixture
def history(tmp_path: Path):
    with AnnotationStore(tmp_path / "h.sqlite") as store:
        yield EditHistory(store)


def test_deleting_5000_objects_is_one_undo_step(history: EditHistory) -> None:
    store = history.store
    objects = nuclei(5000)
    history.add(objects, "Detect")
    history.remove([a.id for a in objects], "Delete selection")
    assert store.count() == 0
    assert history.undo_label == "Delete selection"
    history.undo()
    assert store.count() == 5000
    assert store.get(objects[17].id).geometry.equals(objects[17].geometry)
    history.undo()
    assert store.count() == 0 and not history.can_undo
    history.redo()
    history.redo()
    assert store.count() == 0 and not history.can_redo
    history.undo()
    assert store.count() == 5000


def test_update_and_group_undo(history: EditHistory) -> None:
    store = history.store
    a, b, *_ = drawn_shapes()
    history.add([a, b])
    history.update(a.evolve(class_name="Other"), "Set class")
    assert store.get(a.id).class_name == "Other"
    with history.group("Merge"):
        merged = a.evolve(id="merged", geometry=shapely.union(a.geometry, b.geometry))
        history.remove([a.id, b.id])
        history.add(merged)
    assert store.count() == 1 and store.get("merged") is not None
    assert history.undo_label == "Merge"
    history.undo()
    assert store.get("merged") is None
    assert store.get(a.id).class_name == "Other"
    assert store.get(b.id) is not None
    history.undo()
    assert store.get(a.id).class_name == "Tumor"


def test_new_edit_clears_redo_and_notifies(history: EditHistory) -> None:
    calls: list[None] = []
    history.subscribe(lambda: calls.append(None))
    a, b, *_ = drawn_shapes()
    history.add(a)
    history.undo()
    assert history.can_redo
    history.add(b)
    assert not history.can_redo
    assert len(calls) == 3


def test_undo_of_a_failed_group_leaves_nothing(history: EditHistory) -> None:
    a, b, *_ = drawn_shapes()
    history.add(a)
    with pytest.raises(RuntimeError), history.group("Broken"):
        history.add(b)
        raise RuntimeError("tool crashed")
    assert history.store.get(b.id) is None
    assert history.undo_label == "Add"
