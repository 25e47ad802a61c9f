"""The user's class list: QuPath's defaults on first start, one colour per name on every slide."""

from __future__ import annotations

import json
from pathlib import Path

import shapely

from tests.conftest import shared_file
from tilescope.engine.annotations import Annotation, class_list
from tilescope.engine.annotations.formats import import_file
from tilescope.engine.annotations.store import AnnotationStore


def test_first_start_has_qupaths_classes_and_colours() -> None:
    found = {c.name: c.colour for c in class_list.classes()}
    assert list(found) == list(class_list.QUPATH_DEFAULTS)
    assert found["Tumor"] == (200, 0, 0) and found["Stroma"] == (150, 200, 150)
    assert found["Immune cells"] == (160, 90, 160) and found["Negative"] == (112, 112, 225)
    saved = json.loads(class_list.list_path().read_text(encoding="utf-8"))
    assert saved[0] == {"name": "Tumor", "colour": [200, 0, 0]}


def test_one_colour_per_name_across_slides(tmp_path: Path) -> None:
    class_list.set_colour("Tumor", (1, 2, 3))
    with AnnotationStore(tmp_path / "a.sqlite") as first:
        first.add(Annotation(shapely.box(0, 0, 5, 5), class_name="Lesion"))
        first.add(Annotation(shapely.box(0, 0, 5, 5), class_name="Tumor"))
        lesion = first.class_colour("Lesion")
        assert first.class_colour("Tumor") == (1, 2, 3)
    assert class_list.known_colour("Lesion") == lesion  # learnt from the first slide
    class_list.set_colour("Lesion", (9, 9, 9))
    with AnnotationStore(tmp_path / "b.sqlite") as second:
        second.add(Annotation(shapely.box(0, 0, 5, 5), class_name="Lesion"))
        second.set_class("Other")
        assert second.class_colour("Lesion") == (9, 9, 9)
        assert second.class_colour("Other") == (255, 200, 0)
        # An imported file's colour is used only for names the user has no colour for.
        import_file(second, shared_file("annotations", "qupath_0.2_tumor.geojson"))
        assert second.class_colour("Tumor") == (1, 2, 3)
        assert second.class_colour("Invborder") == (0, 255, 0)
    assert class_list.known_colour("Invborder") == (0, 255, 0)


def test_an_unreadable_list_is_never_overwritten() -> None:
    path = class_list.list_path()
    path.write_text("{not json", encoding="utf-8")
    assert [c.name for c in class_list.classes()][:2] == ["Tumor", "Stroma"]
    assert class_list.colour_for("Brand new") is not None
    assert path.read_text(encoding="utf-8") == "{not json"
