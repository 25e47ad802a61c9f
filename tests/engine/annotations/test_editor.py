"""engine/annotations/editor.py: selection, hit-testing and edits without a GUI, on a real
SQLite store."""

from __future__ import annotations

import pytest
import shapely

from tilescope.engine.annotations.editor import (
    HIT_TOLERANCE_PX,
    AnnotationEditor,
    object_at,
    objects_within,
)
from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.annotations.store import AnnotationStore


def _polygon(box: tuple[float, float, float, float], name: str | None = "Tumor") -> Annotation:
    return Annotation(
        geometry=shapely.box(*box),
        shape_type=ShapeType.POLYGON,
        class_name=name,
        kind=ObjectKind.ANNOTATION,
    )


@pytest.fixture
def store(tmp_path):
    with AnnotationStore(tmp_path / "slide.sqlite") as opened:
        yield opened


@pytest.fixture
def objects(store):
    """A big region with a small one inside it, a point, and a hidden-class square."""
    big = _polygon((0, 0, 1000, 1000))
    small = _polygon((100, 100, 200, 200), "Stroma")
    point = Annotation(
        geometry=shapely.Point(1500, 1500),
        shape_type=ShapeType.POINT,
        class_name="Tumor",
        kind=ObjectKind.ANNOTATION,
    )
    hidden = _polygon((2000, 0, 2100, 100), "Ignore*")
    store.add_many([big, small, point, hidden])
    return {"big": big, "small": small, "point": point, "hidden": hidden}


def test_a_click_hits_the_smallest_object_containing_it(store, objects):
    assert object_at(store, 150, 150, 4.0).id == objects["small"].id
    assert object_at(store, 500, 500, 4.0).id == objects["big"].id


def test_outlines_and_points_are_hit_within_the_tolerance_only(store, objects):
    assert object_at(store, 1503, 1500, 4.0).id == objects["point"].id
    assert object_at(store, 1510, 1500, 4.0) is None
    # The same click seen zoomed out (8 level-0 pixels per screen pixel) does hit it.
    editor = AnnotationEditor(store)
    assert editor.object_at(1510, 1500, downsample=8.0).id == objects["point"].id
    assert HIT_TOLERANCE_PX * 8.0 >= 10


def test_hidden_classes_are_never_hit_or_boxed(store, objects):
    def shown(name: str | None) -> bool:
        return name != "Ignore*"

    assert object_at(store, 2050, 50, 4.0, shown) is None
    assert object_at(store, 2050, 50, 4.0).id == objects["hidden"].id
    assert objects_within(store, 1900, -10, 2200, 200, shown) == []


def test_a_rubber_band_selects_only_what_lies_wholly_inside(store, objects):
    ids = objects_within(store, 1200, 1200, 50, 50)  # dragged up and to the left
    assert set(ids) == {objects["small"].id}
    assert set(objects_within(store, -1, -1, 1600, 1600)) == {
        objects["big"].id,
        objects["small"].id,
        objects["point"].id,
    }


def test_selection_reports_changes_only(store, objects):
    editor = AnnotationEditor(store)
    a, b = objects["big"].id, objects["small"].id
    assert editor.select([a])
    assert not editor.select([a])
    assert editor.select([b], add=True) and editor.selection == {a, b}
    assert editor.toggle(a) and editor.selection == {b}
    assert editor.forget([a, "not-there"]) is False
    assert editor.forget([b]) and editor.selection == frozenset()
    assert not editor.clear_selection()


def test_edits_are_undoable_steps_in_the_store(store, objects):
    editor = AnnotationEditor(store)
    added = editor.add_shape(shapely.box(10, 10, 20, 20), "rectangle", "Rectangle", "Necrosis")
    assert store.get(added.id).class_name == "Necrosis"
    editor.select([objects["small"].id, objects["big"].id])
    assert editor.set_class_of_selected("Brand new", known=["Tumor", "Stroma"]) == 2
    assert {o.class_name for o in editor.selected_objects()} == {"Brand new"}
    assert "Brand new" in {c.name for c in store.classes()}
    assert editor.delete_selected() == 2
    assert editor.selection == frozenset()
    assert store.get(objects["small"].id) is None
    editor.history.undo()  # the delete
    editor.history.undo()  # the class change
    assert store.get(objects["small"].id).class_name == "Stroma"
    assert editor.delete_selected() == 0  # nothing selected any more
