"""Annotation store benchmark: bulk insert, viewport queries, class statistics, GeoJSON export.

    python -m benchmarks.bench_annotations [--n 1000000] [--json results.json]

One million random 16-vertex nucleus polygons on a 100k x 100k slide, spread uniformly and
clustered (hotspots ~10x denser than the background). Timings are wall-clock on this machine;
compare them only with numbers measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from tilescope.engine.annotations import Annotation, ObjectKind
from tilescope.engine.annotations.formats import export_store
from tilescope.engine.annotations.store import AnnotationStore

SLIDE = 100_000.0
CLASSES = ("Tumor", "Stroma", "Immune cells", "Necrosis", "Other")


def centres(n: int, layout: str, rng: np.random.Generator) -> np.ndarray:
    if layout == "uniform":
        return rng.uniform(0, SLIDE, size=(n, 2))
    # 20 round hotspots (3.9% of the area) ten times denser than the background.
    spots = rng.uniform(5_000, SLIDE - 5_000, size=(20, 2))
    radius = 2_500.0
    fraction = 20 * np.pi * radius**2 / SLIDE**2
    n_hot = int(n * 10 * fraction / (10 * fraction + 1 - fraction))
    which = rng.integers(0, 20, size=n_hot)
    angle = rng.uniform(0, 2 * np.pi, n_hot)
    dist = radius * np.sqrt(rng.uniform(0, 1, n_hot))
    hot = spots[which] + np.column_stack([dist * np.cos(angle), dist * np.sin(angle)])
    return np.vstack([hot, rng.uniform(0, SLIDE, size=(n - n_hot, 2))])


def nuclei(n: int, layout: str, seed: int) -> list[Annotation]:
    rng = np.random.default_rng(seed)
    xy = centres(n, layout, rng)
    radii = rng.uniform(3.0, 8.0, n)
    polys = shapely.buffer(shapely.points(xy), radii, quad_segs=4)  # 16 vertices each
    classes = rng.integers(0, len(CLASSES), n)
    scores = rng.uniform(0, 1, n).tolist()
    return [
        Annotation(geometry=poly, class_name=CLASSES[c], kind=ObjectKind.DETECTION, score=s)
        for poly, c, s in zip(polys, classes.tolist(), scores, strict=True)
    ]


_CPU: list[float] = [0.0]  # CPU seconds of the last `timed` call


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of `fn()`; its CPU seconds go to _CPU[0] (fair on a shared, busy machine)."""
    cpu = time.process_time()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    _CPU[0] = time.process_time() - cpu
    return elapsed, result


def windows(layout: str, size: tuple[float, float], count: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    w, h = size
    x = rng.uniform(0, SLIDE - w, count)
    y = rng.uniform(0, SLIDE - h, count)
    return [(float(a), float(b), float(a + w), float(b + h)) for a, b in zip(x, y, strict=True)]


def hotspot_windows(store: AnnotationStore, size: tuple[float, float], count: int) -> list[tuple]:
    """Windows centred on the densest cells (what a pathologist zooms into)."""
    boxes = windows("uniform", (5_000, 5_000), 400, seed=7)
    counts = [len(store.query_ids(b)) for b in boxes]
    w, h = size
    best = [boxes[i] for i in np.argsort(counts)[-count:]]
    return [
        ((b[0] + b[2] - w) / 2, (b[1] + b[3] - h) / 2, (b[0] + b[2] + w) / 2, (b[1] + b[3] + h) / 2)
        for b in best
    ]


def query_stats(fn: Callable[[tuple], Any], boxes: list[tuple]) -> dict[str, float]:
    times, sizes = [], []
    for box in boxes:
        elapsed, result = timed(lambda b=box: fn(b))
        times.append(elapsed * 1000)
        sizes.append(len(result.ids) if hasattr(result, "ids") else len(result))
    return {
        "budget_ratio": round(statistics.median(times) / 30.0, 3),  # of the 30 ms frame budget
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(float(np.percentile(times, 95)), 3),
        "mean_objects": round(float(np.mean(sizes)), 1),
        "max_objects": int(max(sizes)),
    }


def run_layout(n: int, layout: str, folder: Path, export: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"layout": layout, "n": n}
    elapsed, objects = timed(lambda: nuclei(n, layout, seed=1))
    out["make_objects_s"] = round(elapsed, 2)
    path = folder / f"{layout}.sqlite"
    with AnnotationStore(path) as store:
        elapsed, _ = timed(lambda: store.add_many(objects))  # noqa: F821 (deleted below)
        out["insert_s"] = round(elapsed, 2)
        out["insert_per_s"] = round(n / elapsed)
        out["insert_per_cpu_s"] = round(n / _CPU[0])
        out["insert_vs_target_50k"] = round(n / elapsed / 50_000, 2)
        del objects
        boxes = windows(layout, (2000, 2000), 50, seed=3)
        out["query_2k_objects"] = query_stats(lambda b: store.query(b), boxes)
        out["query_2k_display"] = query_stats(lambda b: store.query_display(b), boxes)
        hd = windows(layout, (1920, 1080), 50, seed=4)
        out["query_1080p_display"] = query_stats(lambda b: store.query_display(b), hd)
        if layout == "clustered":
            hot = hotspot_windows(store, (2000, 2000), 20)
            out["query_2k_hotspot_objects"] = query_stats(lambda b: store.query(b), hot)
            out["query_2k_hotspot_display"] = query_stats(lambda b: store.query_display(b), hot)
        elapsed, _ = timed(store.count_by_class)
        out["count_by_class_ms"] = round(elapsed * 1000, 1)
        elapsed, _ = timed(lambda: store.area_by_class(mpp=0.25))
        out["area_by_class_ms"] = round(elapsed * 1000, 1)
        ids = store.query_ids(windows(layout, (4000, 4000), 1, seed=9)[0])[:5000]
        elapsed, _ = timed(lambda: store.remove_many(ids))
        out["remove_batch"] = {"objects": len(ids), "ms": round(elapsed * 1000, 1)}
        if export:
            target = folder / f"{layout}.geojson"
            elapsed, _ = timed(lambda: export_store(store, target))
            out["geojson_export_s"] = round(elapsed, 2)
            out["geojson_export_per_s"] = round(store.count() / elapsed)
            out["geojson_export_per_cpu_s"] = round(store.count() / _CPU[0])
            out["geojson_mb"] = round(target.stat().st_size / 1e6, 1)
            target.unlink()
        out["store_mb"] = round(path.stat().st_size / 1e6, 1)
    # The columnar path the inference engine uses: geometries + classes, no Annotation objects.
    rng = np.random.default_rng(2)
    polys = shapely.buffer(shapely.points(centres(n, layout, rng)), 5.0, quad_segs=4)
    classes = [CLASSES[c] for c in rng.integers(0, len(CLASSES), n).tolist()]
    with AnnotationStore(folder / f"{layout}-columnar.sqlite") as store:
        elapsed, _ = timed(lambda: store.add_detections(polys, classes, rng.uniform(size=n)))
        out["insert_columnar_s"] = round(elapsed, 2)
        out["insert_columnar_per_s"] = round(n / elapsed)
        out["insert_columnar_per_cpu_s"] = round(n / _CPU[0])
    return out


def compare_tiatoolbox(n: int, folder: Path) -> dict[str, Any]:
    """The same objects in TIAToolbox's SQLiteStore, side by side (optional: if importable)."""
    try:
        from tiatoolbox.annotation.storage import Annotation as TiaAnnotation
        from tiatoolbox.annotation.storage import SQLiteStore
    except ImportError as error:
        return {"skipped": f"tiatoolbox not importable ({error})"}
    objects = nuclei(n, "uniform", seed=5)
    boxes = windows("uniform", (2000, 2000), 30, seed=6)
    out: dict[str, Any] = {"n": n}
    with AnnotationStore(folder / "ours.sqlite") as ours:
        ours_insert, _ = timed(lambda: ours.add_many(objects))
        ours_query = query_stats(lambda b: ours.query(b, exact=True), boxes)
        target = folder / "ours.geojson"
        ours_export, _ = timed(lambda: export_store(ours, target))
    theirs_objects = [TiaAnnotation(a.geometry, {"type": a.class_name}) for a in objects]
    try:
        theirs = SQLiteStore(folder / "tia.db")
    except Exception as error:  # e.g. a Python whose sqlite3 cannot load extensions
        out["skipped"] = f"TIAToolbox SQLiteStore does not open here: {error!r}"
        out["insert_per_s"] = {"tilescope": round(n / ours_insert)}
        return out
    tia_insert, _ = timed(lambda: theirs.append_many(theirs_objects))
    tia_query = query_stats(lambda b: theirs.query(shapely.box(*b)), boxes)
    tia_export, _ = timed(lambda: theirs.to_geojson(folder / "tia.geojson"))
    theirs.close()
    out["insert_per_s"] = {"tilescope": round(n / ours_insert), "tiatoolbox": round(n / tia_insert)}
    out["insert_speedup"] = round(tia_insert / ours_insert, 2)
    out["query_2k_exact_median_ms"] = {
        "tilescope": ours_query["median_ms"],
        "tiatoolbox": tia_query["median_ms"],
    }
    out["query_speedup"] = round(tia_query["median_ms"] / ours_query["median_ms"], 2)
    out["geojson_export_s"] = {
        "tilescope": round(ours_export, 2),
        "tiatoolbox": round(tia_export, 2),
    }
    out["export_speedup"] = round(tia_export / ours_export, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="objects per layout")
    parser.add_argument("--layouts", default="uniform,clustered")
    parser.add_argument("--no-export", action="store_true", help="skip the GeoJSON export")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--tiatoolbox",
        type=int,
        default=0,
        metavar="N",
        help="also compare N objects with TIAToolbox's SQLiteStore when it is importable",
    )
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "layouts": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-annotations-") as tmp:
        for layout in args.layouts.split(","):
            result = run_layout(args.n, layout, Path(tmp), export=not args.no_export)
            results["layouts"].append(result)
            print(json.dumps(result, indent=1), flush=True)
        if args.tiatoolbox:
            results["tiatoolbox"] = compare_tiatoolbox(args.tiatoolbox, Path(tmp))
            print(json.dumps(results["tiatoolbox"], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
