"""Cell analysis in the window: measure in the background (table, details), examples, train,
live preview, threshold, summary by region; screenshots saved to /tmp for a look."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import shapely
from scipy import ndimage as ndi

from tests.engine.analysis.real_data import label_polygons
from tests.gui.annotation_helpers import annotated_slide
from tilescope.engine.analysis.stain import H_E, deconvolve
from tilescope.engine.analysis.training import store_examples
from tilescope.engine.annotations import Annotation, ObjectKind
from tilescope.engine.slide.region import RegionRequest
from tilescope.gui.ai.job import JobState
from tilescope.gui.analysis.classifier_panel import IN_VIEW, WHOLE_SLIDE

pytestmark = pytest.mark.timeout(120)
REGION = (600, 900, 700, 500)  # x, y, w, h on the demo slide: tissue with many nuclei
SHOTS = Path("/tmp/tilescope-analysis")


@pytest.fixture
def annotated(qtbot):
    yield from annotated_slide(qtbot)


def add_nuclei(annotated) -> list[str]:
    """Nuclei of a region of the demo slide (haematoxylin threshold), as one run."""
    x, y, w, h = REGION
    rgb = annotated.view.source.read_region(RegionRequest(x, y, w, h))
    haematoxylin = ndi.gaussian_filter(deconvolve(rgb, H_E)[..., 0], 1)
    labels, _ = ndi.label(ndi.binary_opening(haematoxylin > 0.35))
    sizes = np.bincount(labels.ravel())
    labels[(sizes < 25)[labels] | (sizes > 2000)[labels]] = 0
    _, polygons = label_polygons(labels)
    polygons = shapely.transform(polygons, lambda xy: xy + np.array([x, y]))
    store = annotated.session.store
    run = store.add_run("threshold-nuclei")
    ids = store.add_detections(polygons, None, run_id=run.run_id)
    assert len(ids) > 100
    view = annotated.view
    view.set_transform(
        view.transform.zoomed_to(w / view.transform.width).centered_on(x + w / 2, y + h / 2)
    )
    return ids


def shot(widget, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    widget.grab().save(str(SHOTS / name))


def measure(qtbot, annotated) -> None:
    ui = annotated.window.analysis
    ui.show_tab(0)
    job = ui.measure()
    assert job is not None
    assert ui.measure_panel.cancel.isEnabled()  # runs in the background, cancellable
    qtbot.waitUntil(lambda: not job.active, timeout=60000)
    assert job.state == JobState.DONE, job.error
    qtbot.waitUntil(lambda: ui.measure_panel.model.rowCount() > 0, timeout=10000)


def test_measure_fills_the_table_and_the_object_details(qtbot, annotated) -> None:
    ids = add_nuclei(annotated)
    measure(qtbot, annotated)
    ui = annotated.window.analysis
    panel = ui.measure_panel
    names = panel.column_names()
    assert {"area_um2", "hematoxylin_od_mean", "cytoplasm_eosin_od_mean"} <= set(names)
    assert panel.model.rowCount() == len(ids)
    panel.sort_by("area_um2")
    top = panel.model.object_id(0)
    areas = annotated.session.store.measurement_matrix(ids, ["area_um2"])[1][:, 0]
    assert annotated.session.store.get(top).measurements["area_um2"] == pytest.approx(areas.max())
    annotated.window.analysis.dock.resize(520, 700)
    shot(annotated.window.analysis.dock, "measure.png")
    # The object's details in the annotation list.
    annotated.session.select([top])
    details = annotated.ui.list_panel.details
    rows = {details.item(r, 0).text(): details.item(r, 1).text() for r in range(details.rowCount())}
    assert float(rows["area_um2"]) == pytest.approx(areas.max(), rel=1e-3)
    assert "dab_od_mean" in rows
    shot(annotated.ui.list_panel, "details.png")
    # Stain vectors estimated from a region drawn over tissue.
    x, y, w, h = REGION
    region = annotated.session.store.add(Annotation(shapely.box(x, y, x + w, y + h)))
    annotated.session.select([region])
    before = ui.measure_panel.stains.stains()
    assert ui.estimate_stains()
    after = ui.measure_panel.stains.stains()
    assert after.names == ["hematoxylin", "eosin"] and after != before


def test_cancel_keeps_nothing(qtbot, annotated) -> None:
    add_nuclei(annotated)
    ui = annotated.window.analysis
    job = ui.measure()
    job.cancel()  # long before its objects are measured
    qtbot.waitUntil(lambda: not job.active, timeout=60000)
    assert job.state == JobState.CANCELLED
    assert ui.measure_panel.measure.isEnabled()
    assert annotated.session.store.measurement_names() == []
    assert "cancelled" in ui.measure_panel.status.text()


def test_examples_train_live_preview_and_apply(qtbot, annotated, tmp_path: Path) -> None:
    ids = add_nuclei(annotated)
    measure(qtbot, annotated)
    ui = annotated.window.analysis
    session = annotated.session
    store = session.store
    area = store.measurement_matrix(ids, ["area_um2"])[1][:, 0]
    cut = np.median(area)
    rng = np.random.default_rng(0)
    big = [ids[i] for i in rng.choice(np.flatnonzero(area > cut), 12, replace=False)]
    small = [ids[i] for i in rng.choice(np.flatnonzero(area <= cut), 12, replace=False)]
    ui.show_tab(1)
    session.select(big)
    assert ui.add_examples("Big") == 12
    session.select(small)
    assert ui.add_examples("Small") == 12
    assert len(store_examples(store)) == 24
    panel = ui.classifier_panel
    ui.refresh()
    for i in range(panel.features.count()):  # the user keeps the shape features only
        item = panel.features.item(i)
        if not item.text().startswith(("area", "perimeter", "major", "minor")):
            item.setCheckState(item.checkState().Unchecked)
    view = annotated.view
    x, y, w, h = REGION
    view.set_transform(  # zoomed in: the preview covers part of the objects
        view.transform.zoomed_to(250 / view.transform.width).centered_on(x + w / 2, y + h / 2)
    )
    model = ui.train()
    assert model is not None and model.classes == ["Big", "Small"]
    assert ui.last_preview_s is not None and ui.last_preview_s < 5  # measured in benchmarks
    classes = {a.id: a.class_name for a in store.query(kind=ObjectKind.DETECTION)}
    assert all(classes[i] == "Big" for i in big) and all(classes[i] == "Small" for i in small)
    previewed = [k for k, i in enumerate(ids) if classes[i] is not None]
    assert len(previewed) > 20  # the objects in view
    guessed = [(classes[ids[k]] == "Big") == (area[k] > cut) for k in previewed]
    assert np.mean(guessed) > 0.8
    qtbot.wait(300)
    shot(annotated.window, "classifier.png")
    # Moving the view previews the objects that come into it.
    unclassified = sum(1 for c in classes.values() if c is None)
    assert unclassified > 0
    view.set_transform(view.transform.zoomed_to(3 * w / view.transform.width))

    def all_previewed() -> bool:
        return all(a.class_name for a in store.query(kind=ObjectKind.DETECTION))

    qtbot.waitUntil(all_previewed, timeout=10000)
    path = tmp_path / "clf.onnx"
    assert ui.save_classifier(path) and ui.load_classifier(path)
    job = ui.apply(WHOLE_SLIDE)
    qtbot.waitUntil(lambda: not job.active, timeout=30000)
    assert job.state == JobState.DONE and sum(job.result.values()) == len(ids)
    ui.refresh()
    runs = [panel.scope.itemText(i) for i in range(panel.scope.count())]
    run_choice = next(text for text in runs if text.startswith("Run: threshold-nuclei"))
    job = ui.apply(run_choice)
    qtbot.waitUntil(lambda: not job.active, timeout=30000)
    assert job.state == JobState.DONE and sum(job.result.values()) == len(ids)
    # The threshold classifier on one feature.
    panel.threshold_feature.setCurrentText("area_um2")
    panel.threshold.setValue(float(cut))
    counts = ui.apply_threshold(IN_VIEW)
    assert set(counts) == {"Positive", "Negative"}
    q1, q2, q3 = np.quantile(area, [0.25, 0.5, 0.75])
    panel.levels.setText(f"{q1},{q2},{q3}")  # IHC-style scoring: Negative/1+/2+/3+
    counts = ui.apply_threshold(WHOLE_SLIDE)
    qtbot.waitUntil(lambda: not counts.active, timeout=30000)
    assert set(counts.result) == {"Negative", "1+", "2+", "3+"}
    shot(ui.dock, "classify-panel.png")


def test_summary_by_region_and_csv(qtbot, annotated, tmp_path: Path) -> None:
    ids = add_nuclei(annotated)
    store = annotated.session.store
    store.set_classes(ids, ["Positive" if k % 3 == 0 else "Negative" for k in range(len(ids))])
    x, y, w, h = REGION
    store.add(Annotation(shapely.box(x, y, x + w, y + h), class_name="Tumor", name="Tumour 1"))
    ui = annotated.window.analysis
    ui.show_tab(2)
    ui.refresh_summary()
    qtbot.waitUntil(lambda: ui.summary_panel.table.rowCount() > 0, timeout=10000)
    rows = {(r.region, r.object_class): r for r in ui.summary_panel.rows}
    tumour = rows[("Tumour 1", "Positive")]
    assert tumour.count == sum(1 for k in range(len(ids)) if k % 3 == 0)
    assert 30 < tumour.percent < 37 and tumour.density_per_mm2 > 0
    out = tmp_path / "summary.csv"
    assert ui.export_summary(out)
    with out.open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(ui.summary_panel.rows)
    ui.dock.resize(560, 400)
    shot(ui.dock, "summary.png")
