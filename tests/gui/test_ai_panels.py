"""The models panel (catalog, cards, buttons), the runs panel (hide, show, delete) and table
detection on a real PubLayNet page."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.conftest import shared_file
from tests.gui.annotation_helpers import annotated_slide, open_annotated
from tilescope.gui.ai.job import JobState
from tilescope.gui.ai.models_panel import ModelsPanel, Scope
from tilescope.gui.ai.runs_panel import COL_MODEL, COL_OBJECTS

BUNDLED = {"nuclei-he", "nuclei-maskrcnn", "nuclei-unet-fluo", "nuclick", "table-detection"}


@pytest.fixture
def annotated(qtbot):
    yield from annotated_slide(qtbot)


def test_models_panel_lists_bundled_models_with_their_cards(qtbot, tmp_path: Path, monkeypatch):
    broken = tmp_path / "models" / "half-copied"
    broken.mkdir(parents=True)
    (broken / "tilescope-model.yaml").write_text("format: 1\nid: half-copied\n")
    monkeypatch.setenv("TILESCOPE_MODEL_PATH", str(tmp_path / "models"))
    panel = ModelsPanel()
    qtbot.addWidget(panel)
    assert set(panel.model_ids()) >= BUNDLED
    assert panel.current_model().id == "nuclei-he"  # the default suggestion for H&E
    texts = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert "half-copied (not usable)" in texts  # shown with its reason, not hidden
    assert panel.select_model("nuclei-maskrcnn")
    card = panel.card.toPlainText()
    for expected in ("Nuclei Mask R-CNN", "0.5 µm/px", "Nucleus", "CC-BY-NC-SA-4.0", "maskrcnn"):
        assert expected in card
    panel.set_slide_available(True)
    assert panel.run_viewport.isEnabled() and panel.run_slide.isEnabled()
    assert not panel.run_selection.isEnabled()  # nothing selected
    assert panel.structure.isHidden()
    panel.select_model("nuclick")
    assert not panel.run_viewport.isEnabled() and not panel.use_tool.isHidden()
    panel.select_model("table-detection")
    assert not panel.structure.isHidden()
    requests = []
    panel.run_requested.connect(lambda *args: requests.append(args))
    panel.structure.setChecked(True)
    panel.run_slide.click()
    assert requests == [("table-detection", Scope.SLIDE, {"structure": True})]


def test_runs_panel_hides_shows_and_deletes_a_run(qtbot, annotated):
    view = annotated.view
    view.set_transform(view.transform.zoomed_to(300 / view.transform.width).centered_on(900, 900))
    ai = annotated.window.ai
    job = ai.run_model("nuclei-he", Scope.VIEWPORT)
    assert job is not None
    qtbot.waitUntil(lambda: not job.active, timeout=60000)
    assert job.state == JobState.DONE, job.error
    store = annotated.session.store
    run_id = job.result.summary.run_id
    total = store.count(run_id=run_id)
    assert total > 0
    panel = ai.runs_panel
    panel.refresh()
    item = panel.item_for(run_id)
    assert item is not None
    assert item.text(COL_MODEL) == "nuclei-he" and item.text(COL_OBJECTS) == f"{total:,}"
    item.setCheckState(COL_MODEL, Qt.CheckState.Unchecked)  # hide: the store leaves them out
    assert store.count() == 0 and store.runs()[0].hidden
    panel.item_for(run_id).setCheckState(COL_MODEL, Qt.CheckState.Checked)
    assert store.count() == total
    assert panel.delete_run(run_id) == total
    assert store.runs() == [] and panel.run_ids() == []


def test_detect_tables_on_a_publaynet_page(qtbot):
    page = shared_file("documents", "publaynet", "PMC3976938_00002.jpg")
    annotated = open_annotated(qtbot, page)
    try:
        job = annotated.window.ai.detect_tables()
        assert job is not None
        qtbot.waitUntil(lambda: not job.active, timeout=30000)
        assert job.state == JobState.DONE, job.error
        annotated.session.poll()
        tables = annotated.session.store.query(classes=["Table"])
        assert len(tables) == 1
        x0, y0, x1, y1 = tables[0].geometry.bounds
        meta = annotated.view.source.metadata
        assert 0 <= x0 < x1 <= meta.width and 0 <= y0 < y1 <= meta.height
        assert (x1 - x0) * (y1 - y0) > 0.05 * meta.width * meta.height  # a real table block
        # With cells: the ruled table's cells come too, inside the table.
        cells_job = annotated.window.ai.detect_tables(structure=True)
        assert cells_job is not None
        qtbot.waitUntil(lambda: not cells_job.active, timeout=30000)
        assert cells_job.state == JobState.DONE, cells_job.error
        runs = annotated.session.store.runs()
        assert len(runs) == 2 and runs[1].parameters["structure"] is True
        annotated.session.poll()
        cells = annotated.session.store.query(classes=["Cell"])
        assert len(cells) >= 2  # this page's table is ruled
        table = tables[0].geometry.buffer(5)
        assert all(table.contains(c.geometry) for c in cells)
    finally:
        annotated.window.close()


def test_run_on_the_selected_annotation_uses_its_bounding_box(qtbot, annotated):
    import shapely

    session = annotated.session
    drawn = session.add_shape(shapely.box(900, 900, 1150, 1100), "rectangle", "Rectangle")
    panel = annotated.window.ai.models_panel
    panel.select_model("nuclei-he")
    assert not panel.run_selection.isEnabled()
    session.select([drawn.id])
    assert panel.run_selection.isEnabled()
    with qtbot.waitSignal(annotated.window.ai.job_started, timeout=5000) as started:
        panel.run_selection.click()
    job = started.args[0]
    qtbot.waitUntil(lambda: not job.active, timeout=60000)
    assert job.state == JobState.DONE, job.error
    found = session.store.query(run_id=job.result.summary.run_id)
    assert found
    for a in found:  # every object's centre lies in the rectangle
        c = a.geometry.centroid
        assert 899 <= c.x <= 1151 and 899 <= c.y <= 1101
