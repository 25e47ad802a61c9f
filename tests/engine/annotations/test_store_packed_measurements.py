"""Packed measurement blocks (schema 3) always equal the REAL columns: after edits, deletions,
rid reuse, a schema 2 store's migration and a writer killed mid-write; bulk classes by rid."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

from tests.engine.annotations.helpers import nuclei
from tilescope.engine.annotations import Annotation, ObjectKind
from tilescope.engine.annotations import measurement_table as mtable
from tilescope.engine.annotations.store import AnnotationStore

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def store(tmp_path: Path):
    with AnnotationStore(tmp_path / "slide.sqlite") as s:
        yield s


def column_values(store: AnnotationStore) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(rids, names, values) of every object, read from the REAL columns one value at a time
    (the reference the packed blocks must equal)."""
    conn = store._conn
    names = store.measurement_names()
    rids = np.array([r[0] for r in conn.execute("SELECT rid FROM annotations ORDER BY rid")])
    values = np.full((len(rids), len(names)), np.nan)
    cols = ", ".join(mtable.quote(n) for n in names)
    rows = {r[0]: r[1:] for r in conn.execute(f"SELECT rid, {cols} FROM {mtable.TABLE}")}
    for i, rid in enumerate(rids.tolist()):
        if rid in rows:
            values[i] = np.array(rows[rid], dtype=np.float64)
    return rids, names, values


def assert_packed_equals_columns(store: AnnotationStore) -> None:
    rids, names, expected = column_values(store)
    _, got = store.measurement_matrix_for_rids(rids, names)
    np.testing.assert_array_equal(got, expected)
    # And the blocks themselves are there (reads did not just fall back to the columns).
    measured = {
        r[0] >> mtable.BLOCK_SHIFT for r in store._conn.execute(f"SELECT rid FROM {mtable.TABLE}")
    }
    packed = {(b, n) for b, n in store._conn.execute(f"SELECT block, name FROM {mtable.BLOCKS}")}
    assert {(b, n) for b in measured for n in names} <= packed


def test_blocks_follow_writes_deletes_updates_and_rid_reuse(store: AnnotationStore) -> None:
    rng = np.random.default_rng(3)
    ids = store.add_many(nuclei(2500, seed=1))  # three blocks of 1024 rids
    store.set_measurements(ids, {"area": rng.uniform(0, 100, 2500)})
    values = rng.uniform(0, 1, 2500)
    values[::7] = np.nan
    store.set_measurements(ids, {"dab": values})
    store.set_measurements(ids[100:110], {"area": np.full(10, -1.0), "new": np.arange(10.0)})
    assert_packed_equals_columns(store)

    removed = ids[::5]
    store.remove_many(removed)
    assert_packed_equals_columns(store)

    # The object with the highest rid goes; a new object takes its rid and must not
    # inherit its measurements.
    top, top_rid = store._conn.execute(
        "SELECT id, rid FROM annotations ORDER BY rid DESC LIMIT 1"
    ).fetchone()
    assert np.isfinite(store.measurement_matrix([top], ["area"])[1]).all()
    store.remove(top)
    fresh = store.add_detections([shapely.box(0, 0, 3, 3)])
    assert store.object_rids(ids=fresh).tolist() == [top_rid]
    assert np.isnan(store.measurement_matrix(fresh, ["area", "dab", "new"])[1]).all()
    assert_packed_equals_columns(store)

    # An update replaces an object's measurements; its neighbours in the block keep theirs.
    target = store.get(ids[101])
    assert target is not None
    store.update(target.evolve(measurements={"dab": 7.5}))
    got = store.measurement_matrix([ids[101], ids[102]], ["area", "dab", "new"])[1]
    assert np.isnan(got[0, 0]) and got[0, 1] == 7.5 and np.isnan(got[0, 2])
    assert got[1, 0] == -1.0 and got[1, 2] == 2.0
    assert_packed_equals_columns(store)

    store.add_many([Annotation(shapely.box(5, 5, 9, 9), measurements={"area": 16.0})])
    assert_packed_equals_columns(store)


def test_reads_fall_back_to_columns_where_blocks_are_missing(store: AnnotationStore) -> None:
    ids = store.add_detections(shapely.buffer(shapely.points(np.arange(3000.0), 0), 0.4))
    store.set_measurements(ids, {"a": np.arange(3000.0)})
    store._conn.execute(f"DELETE FROM {mtable.BLOCKS} WHERE block = 1")
    names, got = store.measurement_matrix(ids, ["a"])
    assert names == ["a"]
    np.testing.assert_array_equal(got[:, 0], np.arange(3000.0))


def test_schema_2_store_is_packed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with AnnotationStore(path) as s:
        ids = s.add_many(nuclei(1500))
        s.set_measurements(ids, {"x": np.linspace(0, 1, 1500), "y": np.arange(1500.0)})
    conn = sqlite3.connect(path)
    conn.execute(f"DROP TABLE {mtable.BLOCKS}")  # its trigger goes with object_measurements'
    conn.execute(f"DROP TRIGGER {mtable.BLOCKS}_stale")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with AnnotationStore(path) as s:
        assert s._conn.execute(f"SELECT COUNT(*) FROM {mtable.BLOCKS}").fetchone()[0] == 2 * 2
        assert_packed_equals_columns(s)
        np.testing.assert_array_equal(s.measurement_matrix(ids, ["y"])[1][:, 0], np.arange(1500))


def test_killed_measurement_writer_leaves_blocks_equal_to_columns(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.annotations.measure_writer", str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert writer.stdout is not None
    reported: list[tuple[str, int]] = []
    for line in writer.stdout:
        word, step = line.split()
        reported.append((word, int(step)))
        if len(reported) >= 12:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    reported.extend((w, int(s)) for w, s in (x.split() for x in writer.stdout if x.endswith("\n")))
    last = max(step for word, step in reported if word == "measured")
    with AnnotationStore(path) as store:
        assert store.integrity_check() == "ok"
        assert_packed_equals_columns(store)
        _, _, values = column_values(store)
        assert np.nanmax(values[:, 0]) >= 1000.0 * last  # the last reported write survived


def test_set_classes_for_rids_in_bulk(store: AnnotationStore) -> None:
    n = 21_000  # past the bulk threshold: the class and version indexes are rebuilt
    ids = store.add_detections(shapely.box(np.arange(n), 0, np.arange(n) + 0.5, 0.5))
    rids = store.object_rids(kind=ObjectKind.DETECTION)
    assert len(rids) == n
    names = np.where(rids % 3 == 0, "Positive", "Negative").tolist()
    assert store.set_classes_for_rids(rids, names) == n  # nobody listens: no ids gathered
    assert store.count_by_class() == {"Positive": 7000, "Negative": 14_000}
    events = []
    store.subscribe(events.append)
    swapped = ["Negative" if c == "Positive" else "Positive" for c in names]
    assert store.set_classes_for_rids(rids, swapped) == n
    assert events[-1].updated == frozenset(ids)
    assert store.count_by_class() == {"Negative": 7000, "Positive": 14_000}
    names = swapped
    indexes = {r[0] for r in store._conn.execute("SELECT name FROM sqlite_master")}
    assert {"annotations_class", "annotations_version"} <= indexes
    assert store.set_classes_for_rids(rids, names) == 0  # nothing changes, nothing written
    flipped = list(names)
    flipped[:10] = [None] * 10
    assert store.set_classes_for_rids(rids, flipped) == 10
    assert store.count(classes=[None]) == 10
    assert store.integrity_check() == "ok"


def test_sparse_and_dense_reads_agree(store: AnnotationStore) -> None:
    ids = store.add_detections(shapely.buffer(shapely.points(np.arange(5000.0), 0), 0.4))
    values = np.random.default_rng(5).normal(size=(5000, 2))
    values[::3, 1] = np.nan
    store.set_measurements(ids, {"p": values[:, 0], "q": values[:, 1]})
    picked = [*ids[::997], "no-such-id", ids[1]]  # a few rows in each block: read as rows
    _, sparse = store.measurement_matrix(picked, ["q", "p", "absent"])
    _, dense = store.measurement_matrix(ids, ["q", "p", "absent"])
    position = {id_: i for i, id_ in enumerate(ids)}
    for row, id_ in zip(sparse, picked, strict=True):
        if id_ in position:
            np.testing.assert_array_equal(row, dense[position[id_]])
        else:
            assert np.isnan(row).all()
    np.testing.assert_array_equal(dense[:, 1], values[:, 0])
    np.testing.assert_array_equal(dense[:, 0], values[:, 1])


def test_set_classes_with_more_classes_than_a_byte_holds(store: AnnotationStore) -> None:
    ids = store.add_detections(shapely.box(np.arange(600), 0, np.arange(600) + 0.5, 0.5))
    names = [f"class {i % 300}" for i in range(600)]  # 300 classes: one UPDATE per class
    assert store.set_classes(ids, names) == 600
    assert store.count_by_class() == {f"class {i}": 2 for i in range(300)}
    got = store.get(ids[301])
    assert got is not None and got.class_name == "class 1"
    assert store.set_classes(ids, names) == 0
