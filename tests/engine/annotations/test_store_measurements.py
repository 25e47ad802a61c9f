"""Measurements as store columns: write, read, query, export, delete, migrate from schema 1."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import shapely

from tests.engine.annotations.helpers import nuclei
from tilescope.engine.annotations import Annotation, ObjectKind
from tilescope.engine.annotations.formats import export_store
from tilescope.engine.annotations.schema import SCHEMA_VERSION
from tilescope.engine.annotations.store import AnnotationStore


@pytest.fixture
def store(tmp_path: Path):
    with AnnotationStore(tmp_path / "slide.sqlite") as s:
        yield s


def test_columns_round_trip_and_keep_other_columns(store: AnnotationStore) -> None:
    ids = store.add_many(nuclei(300))
    values = np.linspace(0, 1, 300)
    assert store.set_measurements(ids, {"dab_od_mean": values, "area_um2": values * 10}) == 300
    store.set_measurements(ids[:10], {"dab_od_mean": np.full(10, 5.0)})
    names, matrix = store.measurement_matrix(ids, ["area_um2", "dab_od_mean", "absent"])
    assert names == ["area_um2", "dab_od_mean", "absent"]
    assert np.allclose(matrix[:, 0], values * 10)
    assert np.allclose(matrix[:10, 1], 5.0) and np.allclose(matrix[10:, 1], values[10:])
    assert np.isnan(matrix[:, 2]).all()
    got = store.get(ids[20])
    assert got is not None and got.measurements == {
        "dab_od_mean": pytest.approx(values[20]),
        "area_um2": pytest.approx(values[20] * 10),
    }
    assert store.measurement_names() == ["dab_od_mean", "area_um2"]


def test_threshold_query_and_nan_is_not_measured(store: AnnotationStore) -> None:
    ids = store.add_many(nuclei(100))
    values = np.arange(100) / 100.0
    values[5] = np.nan
    store.set_measurements(ids, {"dab_od_mean": values})
    above = store.ids_where("DAB_OD_MEAN", ">", 0.895)
    assert sorted(above) == sorted(ids[90:])
    assert ids[5] not in store.ids_where("dab_od_mean", ">=", 0.0)
    assert "dab_od_mean" not in store.get(ids[5]).measurements
    with pytest.raises(ValueError):
        store.ids_where("dab_od_mean", "; DROP TABLE annotations", 1)


def test_measurements_follow_add_update_and_remove(store: AnnotationStore) -> None:
    a = Annotation(shapely.box(0, 0, 10, 10), measurements={"Area µm^2": 25.0, 'odd "name"': 1.0})
    store.add(a)
    assert store.get(a.id).measurements == {"Area µm^2": 25.0, 'odd "name"': 1.0}
    store.update(a.evolve(measurements={"Area µm^2": 30.0}))
    assert store.get(a.id).measurements == {"Area µm^2": 30.0}
    store.remove(a.id)
    left = store._conn.execute("SELECT COUNT(*) FROM object_measurements").fetchone()[0]
    assert left == 0


def test_delete_run_drops_its_measurements(store: AnnotationStore) -> None:
    run = store.add_run("nuclei-model")
    geoms = [g.geometry for g in nuclei(50)]
    ids = store.add_detections(geoms, "Tumor", run_id=run.run_id)
    store.set_measurements(ids, {"x": np.ones(50)})
    assert store.delete_run(run.run_id) == 50
    assert store._conn.execute("SELECT COUNT(*) FROM object_measurements").fetchone()[0] == 0


def test_set_classes_in_bulk_and_event(store: AnnotationStore) -> None:
    ids = store.add_many(nuclei(30))
    events = []
    store.subscribe(events.append)
    changed = store.set_classes(ids, ["Positive" if i % 2 else "Negative" for i in range(30)])
    assert changed == 30 and store.count_by_class() == {"Positive": 15, "Negative": 15}
    assert events[-1].updated == frozenset(ids)
    assert "Positive" in [c.name for c in store.classes()]


def test_exports_carry_measurement_columns_with_id_first(
    store: AnnotationStore, tmp_path: Path
) -> None:
    ids = store.add_many(nuclei(20))
    store.set_measurements(ids, {"dab_od_mean": np.arange(20) / 10})
    out = tmp_path / "m.csv"
    export_store(store, out)
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert next(iter(rows[0])) == "id"
    by_id = {r["id"]: float(r["dab_od_mean"]) for r in rows}
    assert by_id[ids[7]] == pytest.approx(0.7)
    gj = tmp_path / "m.geojson"
    export_store(store, gj)
    features = json.loads(gj.read_text())["features"]
    found = {f["id"]: f["properties"]["measurements"]["dab_od_mean"] for f in features}
    assert found[ids[3]] == pytest.approx(0.3)


def test_schema_1_store_migrates_json_measurements(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with AnnotationStore(path) as s:
        keep = s.add(Annotation(shapely.box(0, 0, 5, 5), kind=ObjectKind.DETECTION))
    conn = sqlite3.connect(path)
    # Make it look like schema 1: measurements as JSON in the row, no columns table.
    conn.execute("DROP TRIGGER object_measurements_delete")
    conn.execute("DROP TABLE object_measurements")
    conn.execute(
        "UPDATE annotations SET measurements = ? WHERE id = ?",
        (json.dumps({"Nucleus: Area": 12.5, "Hematoxylin OD mean": 0.4}), keep),
    )
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with AnnotationStore(path) as s:
        assert s.get(keep).measurements == {"Nucleus: Area": 12.5, "Hematoxylin OD mean": 0.4}
        assert s.ids_where("Nucleus: Area", ">", 10) == [keep]
        row = s._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        assert int(row[0]) == SCHEMA_VERSION == 3
        raw = s._conn.execute("SELECT measurements FROM annotations").fetchone()[0]
        assert raw is None


def test_object_table_by_run_and_ids(store: AnnotationStore) -> None:
    run = store.add_run("m")
    ids = store.add_detections([g.geometry for g in nuclei(40)], "Tumor", run_id=run.run_id)
    store.add(Annotation(shapely.box(0, 0, 100, 100), class_name="Stroma"))
    table = store.object_table(run_id=run.run_id)
    assert sorted(table.ids) == sorted(ids) and len(table.geometries) == 40
    picked = store.object_table(ids=[ids[3], ids[1]])
    assert picked.ids == [ids[3], ids[1]]
    assert picked.geometries[0].equals(store.get(ids[3]).geometry)
