"""The store: edits, queries, classes, runs, events, cross-process pickup, identity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely

from tests.engine.annotations.helpers import drawn_shapes, nuclei
from tilescope.engine.annotations import Annotation, AnnotationStoreError, ChangeEvent, ObjectKind
from tilescope.engine.annotations.identity import slide_identity
from tilescope.engine.annotations.store import AnnotationStore


@pytest.fixture
def store(tmp_path: Path):
    with AnnotationStore(tmp_path / "slide.sqlite") as s:
        yield s


def test_add_get_update_remove(store: AnnotationStore) -> None:
    shape = drawn_shapes()[0]
    store.add(shape.evolve(properties={"note": "check"}, measurements={"Nuclei": 12.0}))
    got = store.get(shape.id)
    assert got is not None
    assert got.geometry.equals_exact(shape.geometry, 0)
    assert (got.class_name, got.name, got.properties, got.measurements) == (
        "Tumor",
        "tumour region",
        {"note": "check"},
        {"Nuclei": 12.0},
    )
    moved = shapely.affinity.translate(shape.geometry, 10_000, 0)
    store.update(got.evolve(geometry=moved, class_name="Stroma"))
    assert store.get(shape.id).class_name == "Stroma"
    x0, y0, x1, y1 = moved.bounds
    assert store.query_ids((x0, y0, x1, y1)) == [shape.id]
    old = shape.geometry.bounds
    assert store.query_ids(old) == []
    assert store.remove(shape.id)
    assert store.get(shape.id) is None
    assert not store.remove(shape.id)
    with pytest.raises(KeyError):
        store.update(shape)


def test_bulk_query_matches_brute_force(store: AnnotationStore) -> None:
    objects = nuclei(30_000, extent=20_000)  # big enough for the bulk (block + reindex) path
    store.add_many(objects)
    assert store.count() == 30_000
    geoms = np.array([a.geometry for a in objects], dtype=object)
    rng = np.random.default_rng(5)
    for _ in range(20):
        x0, y0 = rng.uniform(0, 18_000, size=2)
        box = (x0, y0, x0 + 2000, y0 + 1000)
        expected = {
            objects[i].id
            for i in np.flatnonzero(shapely.intersects(shapely.envelope(geoms), shapely.box(*box)))
        }
        assert set(store.query_ids(box)) == expected
        exact = {a.id for a in store.query(box, exact=True)}
        assert exact == {
            objects[i].id for i in np.flatnonzero(shapely.intersects(geoms, shapely.box(*box)))
        }
    counts = store.count_by_class()
    assert counts == {"Tumor": 10_000, "Stroma": 10_000, "Immune cells": 10_000}
    areas = store.area_by_class(mpp=0.5)
    expected_area = sum(a.geometry.area for a in objects if a.class_name == "Tumor") * 0.25
    assert areas["Tumor"] == pytest.approx(expected_area, rel=1e-9)
    assert store.integrity_check() == "ok"


def test_query_filters(store: AnnotationStore) -> None:
    drawn = drawn_shapes()
    detections = nuclei(200, extent=60_000)
    store.add_many(drawn + detections)
    everything = (0, 0, 100_000, 100_000)
    assert len(store.query(everything, kind=ObjectKind.ANNOTATION)) == len(drawn)
    assert {a.class_name for a in store.query(everything, classes=["Necrosis"])} == {"Necrosis"}
    assert [a.name for a in store.query(everything, classes=[None])] == ["plain"]
    assert store.count(kind="detection") == 200
    assert len(store.query(everything, limit=7)) == 7
    display = store.query_display(everything, min_size=100)
    assert set(display.ids) <= {a.id for a in drawn}  # 12-px nuclei are skipped
    assert len(display.geometries) == len(display.ids) == len(display.class_names)


def test_duplicate_and_invalid_objects_are_refused(store: AnnotationStore) -> None:
    shape = drawn_shapes()[1]
    store.add(shape)
    with pytest.raises(AnnotationStoreError):
        store.add(shape)
    with pytest.raises(ValueError, match="finite"):
        store.add(Annotation(shapely.Point(float("nan"), 1.0)))
    with pytest.raises(ValueError, match="empty"):
        store.add(Annotation(shapely.Polygon()))
    assert store.count() == 1


def test_classes_with_qupath_defaults(store: AnnotationStore) -> None:
    store.add_many(drawn_shapes())
    colours = {c.name: c.colour for c in store.classes()}
    assert colours["Tumor"] == (200, 0, 0)
    assert colours["Stroma"] == (150, 200, 150)
    assert colours["Immune cells"] == (160, 90, 160)
    store.set_class("Tumor", (10, 20, 30))
    assert store.class_colour("Tumor") == (10, 20, 30)
    with pytest.raises(ValueError):
        store.set_class("Bad", (300, 0, 0))
    touched = store.rename_class("Tumor", "Carcinoma")
    assert len(touched) == 1
    assert store.count_by_class()["Carcinoma"] == 1
    assert store.class_colour("Carcinoma") == (10, 20, 30)
    store.remove_class("Carcinoma")
    assert "Carcinoma" not in {c.name for c in store.classes()}
    assert store.get(touched[0]).class_name is None


def test_runs_hide_and_delete(store: AnnotationStore) -> None:
    run = store.add_run("hovernet", "1.0", {"tile": 256})
    dets = [a.evolve(run_id=run.run_id) for a in nuclei(50)]
    store.add_many(dets + drawn_shapes())
    assert store.runs()[0].parameters == {"tile": 256}
    store.set_run_hidden(run.run_id, True)
    assert store.count() == 5
    assert store.count(run_id=run.run_id) == 50
    assert store.count(include_hidden_runs=True) == 55
    store.set_run_hidden(run.run_id, False)
    assert store.delete_run(run.run_id) == 50
    assert store.count() == 5 and store.runs() == []


def test_events_are_batched_per_call(store: AnnotationStore) -> None:
    events: list[ChangeEvent] = []
    store.subscribe(events.append)
    objects = nuclei(5000)
    store.add_many(objects)
    store.remove_many([a.id for a in objects[:3000]])
    with store.transaction():
        store.update(objects[3000].evolve(class_name="Other"))
        store.remove(objects[3001].id)
    assert len(events) == 3
    assert len(events[0].added) == 5000
    assert len(events[1].removed) == 3000
    assert events[2].updated == {objects[3000].id} and events[2].removed == {objects[3001].id}
    assert events[0].version < events[1].version < events[2].version


def test_failed_transaction_changes_nothing(store: AnnotationStore) -> None:
    store.add_many(nuclei(10))
    with pytest.raises(RuntimeError), store.transaction():
        store.add_many(nuclei(10, seed=3))
        raise RuntimeError("boom")
    assert store.count() == 10


def test_other_writer_is_seen_by_poll(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    viewer, engine = AnnotationStore(path), AnnotationStore(path)
    seen: list[ChangeEvent] = []
    viewer.subscribe(seen.append)
    assert viewer.poll() is None
    written = engine.add_many(nuclei(20))
    gone = engine.remove_many(written[:5])
    event = viewer.poll()
    assert event is not None and event.external
    assert event.added == set(written[5:])
    assert event.removed == set(gone)
    assert seen == [event]
    assert viewer.poll() is None  # nothing new
    own = viewer.add(drawn_shapes()[0])
    assert viewer.poll() is None  # own edits were notified directly, not again
    assert own in engine.changes_since(event.version).added
    viewer.close()
    engine.close()


def test_store_for_slide_is_keyed_by_identity(tmp_path: Path, cmu_small_svs: Path) -> None:
    copy = tmp_path / "renamed copy.svs"
    shutil.copy(cmu_small_svs, copy)
    assert slide_identity(copy) == slide_identity(cmu_small_svs)
    with AnnotationStore.for_slide(cmu_small_svs) as first:
        first.add(drawn_shapes()[0])
    with AnnotationStore.for_slide(copy) as second:
        assert second.count() == 1
    project = tmp_path / "project"
    with AnnotationStore.for_slide(copy, folder=project) as third:
        assert third.count() == 0 and third.path.parent == project


def test_identity_differs_between_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"\x89PNG" + b"\0" * 1000)
    b.write_bytes(b"\x89PNG" + b"\1" * 1000)
    assert slide_identity(a) != slide_identity(b)
    with pytest.raises(FileNotFoundError):
        slide_identity(tmp_path / "missing.svs")


def test_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(AnnotationStoreError, match=r"bogus\.sqlite"):
        AnnotationStore(bogus)


def test_add_detections_columnar(store: AnnotationStore) -> None:
    rng = np.random.default_rng(2)
    polys = shapely.buffer(shapely.points(rng.uniform(0, 5000, (1000, 2))), 4, quad_segs=4)
    run = store.add_run("nuclei-model", "2")
    classes = ["Tumor" if i % 4 else "Stroma" for i in range(1000)]
    ids = store.add_detections(polys, classes, rng.uniform(size=1000), run_id=run.run_id)
    assert len(set(ids)) == 1000
    got = store.get(ids[4])
    assert got.kind == "detection" and got.run_id == run.run_id and got.class_name == "Stroma"
    assert got.geometry.equals(polys[4])
    assert store.count_by_class() == {"Tumor": 750, "Stroma": 250}
    with pytest.raises(ValueError):
        store.add_detections(polys[:3], ["Tumor"])


def test_viewport_query_is_driven_by_the_rtree_even_with_filters(store: AnnotationStore) -> None:
    from tilescope.engine.annotations import _queries

    store.add_many(nuclei(2000, extent=20_000))
    plans: list[list[str]] = []

    class PlanSpy:
        def execute(self, sql: str, params: object = ()):
            if sql.startswith("SELECT") and "annotation_index" in sql:
                plan = store._conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
                plans.append([row[3] for row in plan])
            return store._conn.execute(sql, params)

    for classes, kind in ((None, None), (["Tumor"], None), (["Tumor", None], "detection")):
        _queries.select(PlanSpy(), "a.id", (0, 0, 2000, 2000), classes, kind, None, False)
    assert len(plans) == 3
    for plan in plans:
        assert plan[0].startswith("SCAN r VIRTUAL TABLE")
        assert "annotations_block" in plan[1]


def test_poll_from_a_new_thread_sees_earlier_external_writes(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "shared.sqlite"
    viewer, engine = AnnotationStore(path), AnnotationStore(path)
    written = engine.add_many(nuclei(10))
    results: list[ChangeEvent | None] = []
    worker = threading.Thread(target=lambda: results.append(viewer.poll()))
    worker.start()
    worker.join()
    assert results[0] is not None and results[0].added == set(written)
    assert viewer.poll() is None  # the main thread's poll knows it was reported
    viewer.close()
    engine.close()
