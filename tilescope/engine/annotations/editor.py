"""Editing one store's annotations: the selection, finding objects under a point or in a box,
and the edits a user makes (each one undoable step through `EditHistory`).

No GUI here: the viewer's `AnnotationSession` wraps an editor and turns its "changed" answers
into Qt signals; a script or a test drives the same rules directly. Which classes count as
visible is the caller's (a view's styles); hidden objects are never hit or selected by a box.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.history import EditHistory
from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.annotations.store import AnnotationStore

HIT_TOLERANCE_PX = 4.0  # a click this close to an outline (screen pixels) hits it

Visible = Callable[[str | None], bool]


def _everything(_: str | None) -> bool:
    return True


def object_at(
    store: AnnotationStore,
    x: float,
    y: float,
    tolerance: float,
    visible: Visible = _everything,
) -> Annotation | None:
    """The visible object under a level-0 point: the smallest one whose area contains it,
    else the nearest outline or point within `tolerance` (level-0 pixels)."""
    found = [
        a
        for a in store.query((x - tolerance, y - tolerance, x + tolerance, y + tolerance))
        if visible(a.class_name)
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
    return found[best] if distances[best] <= tolerance else None


def objects_within(
    store: AnnotationStore,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    visible: Visible = _everything,
) -> list[str]:
    """Ids of visible objects lying wholly inside a level-0 rectangle (a rubber band)."""
    box = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    found = [a for a in store.query(box.bounds) if visible(a.class_name)]
    if not found:
        return []
    geoms = np.array([a.geometry for a in found], dtype=object)
    inside = shapely.covers(box, geoms)
    return [a.id for a, hit in zip(found, inside, strict=True) if hit]


class AnnotationEditor:
    """The selection and the edits of one store. Methods that change the selection return
    whether it changed, so a GUI can tell its views once."""

    def __init__(
        self,
        store: AnnotationStore,
        history: EditHistory | None = None,
        visible: Visible = _everything,
    ) -> None:
        self.store = store
        self.history = history if history is not None else EditHistory(store)
        self.visible = visible
        self._selection: set[str] = set()

    # -- selection ------------------------------------------------------------------------
    @property
    def selection(self) -> frozenset[str]:
        return frozenset(self._selection)

    def select(self, ids: Iterable[str], *, add: bool = False) -> bool:
        new = set(ids)
        if add:
            new |= self._selection
        if new == self._selection:
            return False
        self._selection = new
        return True

    def toggle(self, annotation_id: str) -> bool:
        return self.select(self._selection ^ {annotation_id})

    def clear_selection(self) -> bool:
        return self.select(())

    def forget(self, ids: Iterable[str]) -> bool:
        """Objects gone from the store leave the selection; True if any was selected."""
        gone = self._selection.intersection(ids)
        self._selection -= gone
        return bool(gone)

    def selected_objects(self) -> list[Annotation]:
        return self.store.get_many(sorted(self._selection)) if self._selection else []

    # -- finding objects ------------------------------------------------------------------
    def object_at(self, x: float, y: float, downsample: float) -> Annotation | None:
        """The visible object under a level-0 point seen at `downsample` (level-0 pixels per
        screen pixel): the hit tolerance is a few screen pixels at any zoom."""
        return object_at(self.store, x, y, HIT_TOLERANCE_PX * downsample, self.visible)

    def objects_within(self, x0: float, y0: float, x1: float, y1: float) -> list[str]:
        return objects_within(self.store, x0, y0, x1, y1, self.visible)

    # -- edits (each one undoable step, committed at once) --------------------------------
    def add_shape(
        self, geometry: BaseGeometry, shape_type: str, label: str, class_name: str | None
    ) -> Annotation:
        annotation = Annotation(
            geometry=geometry,
            shape_type=ShapeType(shape_type),
            class_name=class_name,
            kind=ObjectKind.ANNOTATION,
        )
        self.history.add(annotation, label)
        return annotation

    def update_objects(self, annotations: list[Annotation], label: str) -> None:
        if annotations:
            self.history.update(annotations, label)

    def delete_selected(self) -> int:
        """Delete the selected objects (one step); returns how many went."""
        ids = sorted(self._selection)
        if not ids:
            return 0
        removed = self.history.remove(ids, "Delete")
        self._selection.clear()
        return len(removed)

    def set_class_of_selected(self, name: str | None, known: Iterable[str]) -> int:
        """Give the selected objects class `name` (one step), declaring it in the store when
        it is not among `known`; returns how many changed."""
        objects = self.selected_objects()
        if not objects:
            return 0
        if name is not None and name not in set(known):
            self.store.set_class(name)
        self.history.update([a.evolve(class_name=name) for a in objects], "Set class")
        return len(objects)
