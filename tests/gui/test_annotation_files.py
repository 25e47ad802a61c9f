"""File menu code paths (import with format sniffing and clipping to the slide, export in every
format), the store as the save (close the window, reopen the slide: everything is back), and
objects written by another process appearing in the open view."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap

import pytest
import shapely
from PySide6.QtCore import QPointF

from tests.conftest import shared_file
from tests.gui.annotation_helpers import annotated_slide, drag, open_annotated
from tilescope.engine.annotations.formats import read_annotations

pytestmark = pytest.mark.timeout(40)


@pytest.fixture
def annotated(qtbot):
    yield from annotated_slide(qtbot)


@pytest.mark.parametrize(
    "name",
    ["qupath_0.2_tumor.geojson", "asap_tumor_013.xml", "imagescope_TCGA-EJ-5518.xml"],
)
def test_import_real_files_and_export_back(annotated, tmp_path, name):
    source = shared_file("annotations", name)
    expected = read_annotations(source).annotations
    session = annotated.session
    annotated.ui.clip_imports_action.setChecked(False)  # files made for other, larger slides
    added = annotated.ui.import_file(source)
    assert added == len(expected) > 0
    assert session.store.count() == len(expected)
    stored_area = sum(a.geometry.area for a in session.store.iter_all())
    assert stored_area == pytest.approx(sum(a.geometry.area for a in expected))
    out = tmp_path / "out.geojson"
    assert annotated.ui.export_file(out, "geojson")
    back = read_annotations(out).annotations
    assert len(back) == len(expected)
    assert sum(a.geometry.area for a in back) == pytest.approx(stored_area, rel=1e-9)
    # The XML formats keep one polygon per object: parts become objects; ASAP drops holes
    # and says so in the status bar.
    parts = [p for a in expected for p in shapely.get_parts(a.geometry)]
    holes = sum(len(p.interiors) for p in parts)
    filled_area = sum(shapely.Polygon(p.exterior).area for p in parts)
    for format in ("asap", "imagescope"):
        out = tmp_path / f"out-{format}.xml"
        assert annotated.ui.export_file(out, format)
        back = read_annotations(out).annotations
        assert len(back) == len(parts)
        area = sum(a.geometry.area for a in back)
        if format == "asap":
            assert area == pytest.approx(filled_area, rel=1e-9)
            assert ("hole" in annotated.window.statusBar().currentMessage()) == (holes > 0)
        else:
            assert area == pytest.approx(stored_area, rel=1e-9)
    out = tmp_path / "measurements.csv"
    assert annotated.ui.export_file(out, "csv")
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(expected)
    mpp = session.mpp[0]
    assert sum(float(r["area_um2"]) for r in rows) == pytest.approx(stored_area * mpp * mpp)
    # The import is one undo step.
    session.undo()
    assert session.store.count() == 0


def test_failed_import_reports_the_file_and_changes_nothing(annotated, tmp_path, qtbot):
    session = annotated.session
    annotated.ui.set_tool("rectangle")
    drag(annotated.view, [QPointF(200, 200), QPointF(300, 300)])
    good = shared_file("annotations", "qupath_0.2_tumor.geojson").read_text(encoding="utf-8")
    broken = tmp_path / "cut short.geojson"
    broken.write_text(good[: len(good) // 2], encoding="utf-8")
    garbage = tmp_path / "notes.xml"
    garbage.write_text("<html><body>not annotations</body></html>", encoding="utf-8")
    messages: list[str] = []
    annotated.window.error_reported.connect(messages.append)
    for bad in (broken, garbage, tmp_path / "missing.geojson"):
        assert annotated.ui.import_file(bad) == 0
        assert str(bad) in messages[-1]
        assert session.store.count() == 1
    assert len(messages) == 3


def test_closing_the_window_keeps_everything(qtbot):
    first = open_annotated(qtbot)
    first.ui.set_tool("polygon")
    view = first.view
    for corner in (QPointF(200, 200), QPointF(400, 220), QPointF(380, 400)):
        drag(view, [corner], steps=1)
    first.ui.active_tool().finish(view)
    first.ui.class_panel.add_class("Necrosis")
    first.session.set_class_of_selected("Necrosis")
    drawn = list(first.session.store.iter_all())
    first.window.close()  # no save step anywhere
    assert first.session.closed
    second = open_annotated(qtbot)
    back = list(second.session.store.iter_all())
    assert [a.id for a in back] == [a.id for a in drawn]
    assert back[0].class_name == "Necrosis"
    assert shapely.equals_exact(back[0].geometry, drawn[0].geometry, 1e-9)
    assert second.session.styles.style("Necrosis").colour == (50, 50, 50)
    second.window.close()


def test_objects_written_by_another_process_appear(annotated, qtbot):
    session = annotated.session
    script = textwrap.dedent(
        f"""
        import shapely
        from tilescope.engine.annotations.store import AnnotationStore
        with AnnotationStore({str(session.store.path)!r}) as store:
            run = store.add_run("test-model")
            cells = [shapely.Point(100 + 30 * i, 500).buffer(8) for i in range(25)]
            store.add_detections(cells, "Nucleus", run_id=run.run_id)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    panel = annotated.ui.list_panel
    qtbot.waitUntil(lambda: session.store.count() == 25, timeout=5000)
    qtbot.waitUntil(lambda: panel.summary.rowCount() == 1, timeout=5000)
    assert panel.summary.item(0, 0).text() == "Nucleus"
    assert "Nucleus" in session.styles.colours


def test_export_in_the_background_and_export_errors(annotated, tmp_path, qtbot):
    annotated.ui.set_tool("rectangle")
    drag(annotated.view, [QPointF(200, 200), QPointF(300, 300)])
    out = tmp_path / "background.geojson"
    assert annotated.ui.export_file(out, "geojson", background=True)
    status = annotated.window.statusBar()
    qtbot.waitUntil(lambda: status.currentMessage().startswith("Exported"), timeout=5000)
    assert len(read_annotations(out).annotations) == 1
    messages: list[str] = []
    annotated.window.error_reported.connect(messages.append)
    missing = tmp_path / "no such folder" / "out.geojson"
    assert not annotated.ui.export_file(missing, "geojson")
    assert str(missing.parent) in messages[-1]


def test_a_damaged_store_is_reported_and_the_slide_still_opens(qtbot):
    from tilescope.engine.annotations.identity import slide_identity
    from tilescope.engine.annotations.store import STORE_SUFFIX
    from tilescope.engine.user_dirs import annotation_store_dir
    from tilescope.gui.main_window import MainWindow
    from tilescope.resources import demo_slide_path

    demo = demo_slide_path()
    store_path = annotation_store_dir() / f"{slide_identity(demo)}{STORE_SUFFIX}"
    store_path.parent.mkdir(parents=True, exist_ok=True)
    store_path.write_bytes(b"this is not an SQLite database" * 100)
    window = MainWindow()
    qtbot.addWidget(window)
    messages: list[str] = []
    window.error_reported.connect(messages.append)
    window.show()
    window.open_paths([demo])
    qtbot.waitUntil(lambda: bool(messages), timeout=10000)
    assert str(store_path) in messages[0]
    assert window.current_tab() is not None  # the slide itself is shown
    assert window.annotations.current() is None
    window.close()


def test_import_from_the_menu_reads_in_the_background(annotated, tmp_path, qtbot):
    source = shared_file("annotations", "asap_tumor_013.xml")
    session = annotated.session
    messages: list[str] = []
    annotated.window.error_reported.connect(messages.append)
    annotated.ui.clip_imports_action.setChecked(False)  # a Camelyon slide's annotations
    annotated.ui.import_file(source, background=True)
    qtbot.waitUntil(lambda: session.store.count() == 5, timeout=5000)
    assert "Imported 5 objects" in annotated.window.statusBar().currentMessage()
    bad = tmp_path / "empty.xml"
    bad.write_bytes(b"")
    annotated.ui.import_file(bad, background=True)
    qtbot.waitUntil(lambda: bool(messages), timeout=5000)
    assert str(bad) in messages[0]
    assert session.store.count() == 5


def test_import_clips_to_the_slide_and_exports_coco_labels_dsa(annotated, tmp_path, qtbot):
    import json

    import tifffile

    source = tmp_path / "other_slide.geojson"
    polygon = [[[2000, 100], [2600, 100], [2600, 300], [2000, 300], [2000, 100]]]
    bow_tie = [[[10, 10], [60, 60], [60, 10], [10, 60], [10, 10]]]
    far = [[[90000, 90000], [90010, 90000], [90010, 90010], [90000, 90000]]]
    source.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": c}}
                    for c in (polygon, bow_tie, far)
                ],
            }
        ),
        encoding="utf-8",
    )
    assert annotated.ui.import_file(source) == 2
    message = annotated.window.statusBar().currentMessage()
    assert "1 invalid polygon(s)" in message and "1 clipped, 1 left out" in message
    width = annotated.view.source.metadata.levels[0].width
    assert max(a.geometry.bounds[2] for a in annotated.session.store.iter_all()) == width
    assert set(annotated.ui.export_actions) >= {"coco", "labels", "dsa"}
    coco = tmp_path / "c.json"
    assert annotated.ui.export_file(coco, "coco")
    document = json.loads(coco.read_text())
    assert document["images"][0]["width"] == width
    assert len(document["annotations"]) == 2
    mask = tmp_path / "m.tif"
    assert annotated.ui.export_file(mask, "labels")
    assert tifffile.imread(mask).max() == 2
    dsa = tmp_path / "d.json"
    assert annotated.ui.export_file(dsa, "dsa")
    assert read_annotations(dsa).format == "dsa"


def test_table_grids_export_from_the_menu(annotated, tmp_path):
    from tilescope.engine.annotations.model import Annotation, ObjectKind

    cells = [
        Annotation(
            shapely.box(10 + 40 * c, 10 + 20 * r, 50 + 40 * c, 30 + 20 * r),
            class_name="Cell",
            kind=ObjectKind.DETECTION,
            properties={"table": 3, "row": r, "col": c, "row_span": 1, "col_span": 1},
        )
        for r in range(3)
        for c in range(2)
    ]
    folder = tmp_path / "tables"
    messages: list[str] = []
    annotated.window.error_reported.connect(messages.append)
    assert not annotated.ui.export_file(folder, "tables")  # no tables yet: said, not raised
    assert "no table cells" in messages[-1]
    annotated.session.store.add_many(cells)
    assert annotated.ui.export_file(folder, "tables")
    stem = annotated.window.current_tab().path.stem
    assert (folder / f"{stem}.table-3.csv").read_text().splitlines() == [",", ",", ","]
    assert (folder / f"{stem}.table-3.html").read_text().count("<tr>") == 3
