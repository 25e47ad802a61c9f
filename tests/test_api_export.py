"""`tilescope.api.export_annotations`: the same exports as the CLI, from a script."""

from __future__ import annotations

import json
from pathlib import Path

import shapely

import tilescope.api as ts
from tests.conftest import shared_file
from tilescope.engine.annotations import Annotation, ObjectKind
from tilescope.engine.annotations.store import AnnotationStore


def test_export_a_file_a_slide_store_and_objects(tmp_path: Path, cmu_small_svs: Path) -> None:
    source = shared_file("annotations", "asap_tumor_013.xml")
    notes = ts.export_annotations(source, tmp_path / "a.json", "dsa")
    assert notes == [] and json.loads((tmp_path / "a.json").read_text())[0]["elements"]
    with AnnotationStore.for_slide(cmu_small_svs) as store:
        store.add(Annotation(shapely.box(10, 10, 30, 20), class_name="Tumor"))
    out = tmp_path / "slide.json"
    ts.export_annotations(cmu_small_svs, out, "coco")
    document = json.loads(out.read_text())
    assert document["images"][0]["width"] == 2220 and document["annotations"][0]["area"] == 200
    cells = [
        Annotation(
            shapely.box(40 * c, 0, 40 * c + 40, 20),
            class_name="Cell",
            kind=ObjectKind.DETECTION,
            properties={"table": 1, "row": 0, "col": c, "row_span": 1, "col_span": 1},
        )
        for c in range(4)
    ]
    assert ts.export_annotations(cells, tmp_path / "t", "tables") == ["1 table(s) as CSV and HTML"]
    assert (tmp_path / "t" / "tables.table-1.csv").read_text() == ",,,\n"
