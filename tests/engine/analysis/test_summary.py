"""Summaries by region: counts, percentages and densities per mm^2, and the CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import shapely

from tilescope.engine.analysis.classifier import parse_threshold
from tilescope.engine.analysis.summary import ALL, WHOLE_SLIDE, summarize, write_summary_csv
from tilescope.engine.analysis.training import apply_to_store
from tilescope.engine.annotations import Annotation
from tilescope.engine.annotations.store import AnnotationStore


def test_counts_percent_and_density_by_region(tmp_path: Path) -> None:
    with AnnotationStore(tmp_path / "s.sqlite") as store:
        # Tumor: 1000 x 1000 px at 0.5 um/px = 0.25 mm^2, holding a 10 x 10 grid of cells.
        store.add(Annotation(shapely.box(0, 0, 1000, 1000), class_name="Tumor", name="T1"))
        store.add(Annotation(shapely.box(2000, 0, 2500, 1000), class_name="Stroma"))
        centres = [(50 + 100 * i, 50 + 100 * j) for i in range(10) for j in range(10)]
        centres += [(2100 + 50 * i, 100) for i in range(8)]
        cells = shapely.buffer(shapely.points(np.array(centres, dtype=float)), 5)
        classes = ["Positive" if k % 4 == 0 else "Negative" for k in range(100)] + [
            "Lymphocyte"
        ] * 8
        store.add_detections(cells, classes)
        rows = summarize(store, mpp=0.5)
        path = tmp_path / "summary.csv"
        write_summary_csv(rows, path)
    by = {(r.region, r.object_class): r for r in rows}
    assert by[(WHOLE_SLIDE, ALL)].count == 108
    assert by[("T1", "Positive")].count == 25 and by[("T1", "Positive")].percent == 25.0
    assert by[("T1", ALL)].region_area_mm2 == pytest.approx(0.25)
    assert by[("T1", "Negative")].density_per_mm2 == pytest.approx(75 / 0.25)
    assert by[("Stroma", "Lymphocyte")].density_per_mm2 == pytest.approx(8 / 0.125)
    assert ("Stroma", "Positive") not in by
    with path.open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(rows) and float(table[-1]["count"]) == 8


def test_without_pixel_size_densities_are_unknown(tmp_path: Path) -> None:
    with AnnotationStore(tmp_path / "s.sqlite") as store:
        store.add(Annotation(shapely.box(0, 0, 100, 100), class_name="Tumor"))
        store.add_detections([shapely.box(10, 10, 20, 20)], "Positive")
        rows = summarize(store, mpp=None)
    tumour = next(r for r in rows if r.region == "Tumor" and r.object_class == ALL)
    assert tumour.count == 1 and math.isnan(tumour.density_per_mm2)


def test_h_score_from_intensity_classes(tmp_path: Path) -> None:
    rule = parse_threshold("dab_od_mean>0.2,0.4,0.6")
    values = np.array([0.1, 0.3, 0.5, 0.7, 0.7, np.nan])
    assert rule.predict(values) == ["Negative", "1+", "2+", "3+", "3+", None]
    with AnnotationStore(tmp_path / "s.sqlite") as store:
        store.add(Annotation(shapely.box(0, 0, 100, 100), class_name="Tumor"))
        cells = [shapely.box(10 * k, 10, 10 * k + 5, 15) for k in range(5)]
        ids = store.add_detections(cells, None)
        store.set_measurements(ids, {"dab_od_mean": values[:5]})
        apply_to_store(store, rule)
        rows = summarize(store, mpp=None)
    tumour = next(r for r in rows if r.region == "Tumor" and r.object_class == ALL)
    # 20% 1+, 20% 2+, 40% 3+: 20 + 40 + 120.
    assert tumour.h_score == pytest.approx(180.0)
    assert all(math.isnan(r.h_score) for r in rows if r.object_class != ALL)
