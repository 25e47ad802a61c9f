"""Cell analysis benchmark: measurements of 100k nuclei, side by side with scikit-image's
regionprops on the same objects, and a classifier applied to 1M objects.

    python -m benchmarks measure [--nuclei 100000] [--objects 1000000] [--store]
        [--only measure|classify] [--json out.json]

The slide is synthetic: an H&E-like image (pink background, purple nuclei) with 16-vertex
elliptical nuclei on a jittered grid (as a detector outputs them), held as an in-memory slide.
Ours measures 7 shape features and mean/std/max OD of 3 stains inside each nucleus and in a
2 um ring (25 columns); regionprops measures the shape features and the mean/max of one
deconvolved channel inside (no ring) from a label image we give it. --store also runs the
store path: 1M objects with their measurements read from SQLite, classified, classes written.
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
    from tilescope.engine.analysis.training import apply_to_store
    from tilescope.engine.annotations.store import AnnotationStore

    n = len(x)
    side = int(np.ceil(np.sqrt(n)))
    centres = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:n]
    polygons = shapely.buffer(shapely.points(centres * 20.0 + 10), 6, quad_segs=4)
    with (
        tempfile.TemporaryDirectory(prefix="bench-measure-") as folder,
        AnnotationStore(Path(folder) / "s.sqlite") as s,
    ):
        started = time.perf_counter()
        ids = s.add_detections(polygons, None)
        insert_s = time.perf_counter() - started
        started = time.perf_counter()
        s.set_measurements(ids, {name: x[:, i] for i, name in enumerate(names)})
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        apply_to_store(s, model)
        apply_s = time.perf_counter() - started
        # Live preview: the objects of one 2000 x 1000 px viewport (~5000 objects).
        started = time.perf_counter()
        table = s.object_table(bbox=(0, 0, 2000, 1000))
        _, matrix = s.measurement_matrix_for_rids(table.rids, model.features)
        model.predict(matrix)
        preview_s = time.perf_counter() - started
    return {
        "store_insert_s": round(insert_s, 2),
        "store_write_25_columns_s": round(write_s, 2),
        "store_read_classify_write_s": round(apply_s, 2),
        "viewport_preview_objects": len(table),
        "viewport_preview_s": round(preview_s, 3),
    }


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
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
