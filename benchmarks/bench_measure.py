"""Cell analysis benchmark: measurements of 100k nuclei, side by side with scikit-image's
regionprops on the same objects, and a classifier applied to 1M objects.

    python -m benchmarks measure [--nuclei 100000] [--objects 1000000] [--store]
        [--only measure|classify] [--json out.json]

The slide is synthetic: an H&E-like image (pink background, purple nuclei) with 16-vertex
elliptical nuclei on a jittered grid (as a detector outputs them), held as an in-memory slide.
Ours measures 7 shape features and mean/std/max OD of 3 stains inside each nucleus and in a
2 um ring (25 columns); regionprops measures the shape features and the mean/max of one
deconvolved channel inside (no ring) from a label image we give it. --store also runs the
store path: 1M objects with their measurements read from SQLite, classified, classes written,
twice on copies of one store: the schema 2 path as the baseline (every value read as a Python
float, classes bound row by row into a temporary table and joined; kept here only) and ours
(packed measurement blocks read with np.frombuffer, one UPDATE per class over the rids).
Timings are wall-clock on this machine; compare only numbers from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from tilescope.engine.analysis.classifier import train
from tilescope.engine.analysis.measure import MeasureOptions, measure_objects
from tilescope.engine.analysis.raster import rasterize_labels
from tilescope.engine.inference.memory_slide import ArraySlide

MPP = 0.5
SPACING = 22  # px between nucleus centres


def synthetic_nuclei(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RGB image, label image, polygons) with `n` nuclei."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    size = side * SPACING + SPACING
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:n]
    centres = (grid + 1) * SPACING + rng.uniform(-3, 3, size=(n, 2))
    angle = rng.uniform(0, np.pi, n)
    a, b = rng.uniform(5, 8, n), rng.uniform(3.5, 5.5, n)
    t = np.linspace(0, 2 * np.pi, 17)[:-1]
    ex, ey = a[:, None] * np.cos(t), b[:, None] * np.sin(t)
    x = centres[:, :1] + ex * np.cos(angle)[:, None] - ey * np.sin(angle)[:, None]
    y = centres[:, 1:] + ex * np.sin(angle)[:, None] + ey * np.cos(angle)[:, None]
    rings = np.stack([x, y], -1)
    polygons = shapely.polygons(np.concatenate([rings, rings[:, :1]], axis=1))
    labels = rasterize_labels(polygons, np.arange(1, n + 1), (0, 0), (size, size))
    darkness = rng.uniform(0.6, 1.0, n + 1)
    darkness[0] = 0
    nucleus = darkness[labels][..., None]
    pink = np.array([236, 170, 200], np.float32)
    purple = np.array([90, 60, 150], np.float32)
    grain = rng.normal(1, 0.04, (size, size, 1)).astype(np.float32)
    rgb = np.clip((pink * (1 - nucleus) + purple * nucleus) * grain, 0, 255).astype(np.uint8)
    return rgb, labels, polygons


def bench_measurements(n: int, regionprops: bool = True) -> dict[str, Any]:
    from skimage.color import rgb2hed
    from skimage.measure import regionprops_table

    rgb, labels, polygons = synthetic_nuclei(n)
    slide = ArraySlide(rgb, mpp=MPP)
    started = time.perf_counter()
    columns = measure_objects(slide, polygons, MPP, options=MeasureOptions(threads=2))
    ours = time.perf_counter() - started
    if not regionprops:
        return {"nuclei": n, "ours_s": round(ours, 2), "ours_columns": len(columns)}
    started = time.perf_counter()
    haematoxylin = rgb2hed(rgb)[..., 0]
    props = regionprops_table(
        labels,
        intensity_image=haematoxylin,
        properties=(
            "area",
            "perimeter",
            "eccentricity",
            "solidity",
            "axis_major_length",
            "axis_minor_length",
            "intensity_mean",
            "intensity_max",
        ),
    )
    skimage_s = time.perf_counter() - started
    area_px = columns["area_um2"] / (MPP * MPP)
    return {
        "nuclei": n,
        "image_px": f"{rgb.shape[1]}x{rgb.shape[0]}",
        "ours_s": round(ours, 2),
        "ours_columns": len(columns),
        "ours_objects_per_s": round(n / ours),
        "regionprops_s": round(skimage_s, 2),
        "regionprops_columns": len(props),
        "speedup_vs_regionprops": round(skimage_s / ours, 2),
        "area_agreement_median_rel": float(
            np.median(np.abs(area_px - props["area"]) / props["area"])
        ),
    }


def bench_classifier(n_objects: int, store: bool) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    names = [f"f{i}" for i in range(25)]
    x = rng.normal(size=(n_objects, 25)).astype(np.float32)
    rule = np.where(x[:, 0] + 0.5 * x[:, 3] > 0, "Positive", "Negative")
    started = time.perf_counter()
    model = train(x[:40], rule[:40].tolist(), names)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(x)
    predict_s = time.perf_counter() - started
    out: dict[str, Any] = {
        "objects": n_objects,
        "features": 25,
        "train_40_examples_s": round(train_s, 2),
        "predict_s": round(predict_s, 2),
        "objects_per_s": round(n_objects / predict_s),
        "agreement_with_rule": round(float(np.mean(np.array(predicted) == rule)), 3),
    }
    if store:
        out.update(_bench_store(x, names, model))
    return out


def _bench_store(x: np.ndarray, names: list[str], model: Any) -> dict[str, Any]:
    import shutil

    from tilescope.engine.analysis.training import apply_to_store
    from tilescope.engine.annotations.store import AnnotationStore

    n = len(x)
    side = int(np.ceil(np.sqrt(n)))
    centres = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:n]
    polygons = shapely.buffer(shapely.points(centres * 20.0 + 10), 6, quad_segs=4)
    out: dict[str, Any] = {"load_avg_1min_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="bench-measure-") as folder:
        first, second = Path(folder) / "baseline.sqlite", Path(folder) / "ours.sqlite"
        with AnnotationStore(first) as s:
            started = time.perf_counter()
            ids = s.add_detections(polygons, None)
            out["store_insert_s"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            s.set_measurements(ids, {name: x[:, i] for i, name in enumerate(names)})
            out["store_write_25_columns_s"] = round(time.perf_counter() - started, 2)
        shutil.copyfile(first, second)  # closed: the WAL is checkpointed into the file
        with AnnotationStore(first) as s:
            baseline = _timed_apply(s, model, _reference_read, model.predict, _reference_write)
            baseline_counts = s.count_by_class()
        with AnnotationStore(second) as s:
            ours = _timed_apply(s, model, _packed_read, model.predict_index, _write_codes)
            if s.count_by_class() != baseline_counts:
                raise AssertionError("the two paths classified differently")
            started = time.perf_counter()
            apply_to_store(s, model)  # the same classifier again: no class changes
            out["reapply_unchanged_s"] = round(time.perf_counter() - started, 2)
            # Live preview: the objects of one 2000 x 1000 px viewport (~5000 objects).
            started = time.perf_counter()
            rids = s.object_rids(bbox=(0, 0, 2000, 1000))
            _, matrix = s.measurement_matrix_for_rids(rids, model.features)
            model.predict(matrix)
            preview_s = time.perf_counter() - started
    out["apply_baseline_s"] = baseline
    out["apply_ours_s"] = ours
    out["apply_speedup"] = round(baseline["total"] / ours["total"], 2)
    out["viewport_preview_objects"] = len(rids)
    out["viewport_preview_s"] = round(preview_s, 3)
    out["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    return out


def _timed_apply(store: Any, model: Any, read: Any, predict: Any, write: Any) -> dict[str, float]:
    """What `apply_to_store` does (select, read features, predict, keep examples, write
    classes), phase by phase, with the given read and write."""
    from tilescope.engine.analysis.training import store_examples

    phases: dict[str, float] = {}
    if hasattr(os, "sync"):
        os.sync()  # the copy's or the other run's writes are not flushed on our time
    started = time.perf_counter()
    rids = read(store, model.features, phases)
    mark = time.perf_counter()
    predicted = predict(phases.pop("matrix"))
    phases["predict"] = time.perf_counter() - mark
    mark = time.perf_counter()
    store_examples(store)  # none in this store; the cost of looking is part of applying
    phases["examples"] = time.perf_counter() - mark
    mark = time.perf_counter()
    write(store, rids, model.classes, predicted)
    phases["write_classes"] = time.perf_counter() - mark
    phases["total"] = time.perf_counter() - started
    return {k: round(v, 2) for k, v in phases.items()}


def _packed_read(store: Any, features: list[str], phases: dict[str, Any]) -> Any:
    mark = time.perf_counter()
    rids = store.object_rids(kind="detection")
    phases["select"] = time.perf_counter() - mark
    mark = time.perf_counter()
    phases["matrix"] = store.measurement_matrix_for_rids(rids, features)[1]
    phases["read_features"] = time.perf_counter() - mark
    return rids


def _write_codes(store: Any, rids: Any, classes: list[str], predicted: np.ndarray) -> None:
    store.set_class_codes(rids, predicted, classes)


def _reference_read(store: Any, features: list[str], phases: dict[str, Any]) -> Any:
    """Schema 2's read: object_table, then one Python float per stored value."""
    from tilescope.engine.annotations import measurement_table as mtable

    mark = time.perf_counter()
    table = store.object_table(kind="detection", geometry=False)
    phases["select"] = time.perf_counter() - mark
    mark = time.perf_counter()
    want = table.rids
    cols = ", ".join(mtable.quote(f) for f in features)
    rows = store._conn.execute(
        f"SELECT rid, {cols} FROM {mtable.TABLE} WHERE rid BETWEEN ? AND ?",
        (int(want.min()), int(want.max())),
    ).fetchall()
    data = np.array(rows, dtype=np.float64)
    got = data[:, 0].astype(np.int64)
    order = np.argsort(got, kind="stable")
    at = np.clip(np.searchsorted(got[order], want), 0, len(got) - 1)
    matrix = np.full((len(want), len(features)), np.nan)
    hit = got[order][at] == want
    matrix[hit] = data[order[at[hit]], 1:]
    phases["matrix"] = matrix
    phases["read_features"] = time.perf_counter() - mark
    return want


def _reference_write(store: Any, rids: Any, _classes: Any, predicted: list[str]) -> None:
    """Schema 2's set_classes: (rid, class) bound row by row into a temporary table, unchanged
    rows dropped by a join, UPDATE ... FROM, the two indexes rebuilt."""
    from tilescope.engine.annotations.schema import SECONDARY_INDEXES

    with store.transaction():
        state = store._state()
        conn = state.connection
        version = store._write_version(state)
        store._ensure_classes(conn, set(predicted))
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS ref_classes (rid INTEGER PRIMARY KEY, name)")
        conn.execute("DELETE FROM ref_classes")
        conn.executemany(
            "INSERT OR REPLACE INTO ref_classes VALUES (?, ?)",
            zip(np.asarray(rids).tolist(), predicted, strict=True),
        )
        conn.execute(
            "DELETE FROM ref_classes WHERE rid IN (SELECT n.rid FROM ref_classes n "
            "JOIN annotations a ON a.rid = n.rid WHERE a.class_name IS n.name)"
        )
        for name in ("annotations_class", "annotations_version"):
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        changed = conn.execute(
            "UPDATE annotations SET class_name = n.name, version = ? FROM ref_classes n "
            "WHERE annotations.rid = n.rid RETURNING annotations.id",
            (version,),
        ).fetchall()
        for name in ("annotations_class", "annotations_version"):
            conn.execute(SECONDARY_INDEXES[name])
        conn.execute("DELETE FROM ref_classes")
        state.pending.note_updated([r[0] for r in changed])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nuclei", type=int, default=100_000)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--store", action="store_true", help="also time the store path")
    parser.add_argument("--only", choices=("measure", "classify"), help="run one part")
    parser.add_argument("--no-regionprops", action="store_true", help="time ours only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    if args.only != "classify":
        results["measure"] = bench_measurements(args.nuclei, not args.no_regionprops)
        print(json.dumps(results["measure"], indent=1), flush=True)
    if args.only != "measure":
        results["classify"] = bench_classifier(args.objects, args.store)
        print(json.dumps(results["classify"], indent=1), flush=True)
    results["load_avg_1min_end"] = (
        round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
