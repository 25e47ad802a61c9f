"""Counts, densities and percentages of object classes inside annotation regions, and the
H-score (1 x %1+ + 2 x %2+ + 3 x %3+) where objects were scored Negative/1+/2+/3+.

"Positive % in Tumor" and "lymphocytes per mm^2 in Stroma": every drawn region (an annotation
with an area) gets one row per detection class found in it, plus an "All" row. An object is in
a region when its centroid is (QuPath's rule). Vectorised: one `shapely.contains_xy` per
region over the centroids inside its bounding box.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import shapely

from tilescope.engine.analysis.classifier import INTENSITY_CLASSES
from tilescope.engine.analysis.shape import centroids
from tilescope.engine.annotations.model import ObjectKind
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.errors import FileProblemError

ALL = "All"
UNCLASSIFIED = "Unclassified"
WHOLE_SLIDE = "(all objects)"


@dataclass(frozen=True, slots=True)
class SummaryRow:
    region: str  # the region's name, else its class, else its id
    region_class: str
    region_area_mm2: float  # NaN when the pixel size is unknown
    object_class: str
    count: int
    percent: float  # of the objects in the region
    density_per_mm2: float  # NaN when the pixel size is unknown
    h_score: float = math.nan  # All rows where objects were scored 1+/2+/3+: 0..300


def _rows(
    label: str,
    region_class: str,
    area_mm2: float,
    classes: np.ndarray,
    names: list[str],
) -> list[SummaryRow]:
    total = len(classes)
    counts = np.bincount(classes, minlength=len(names)) if total else np.zeros(len(names), int)
    out = []
    levels = {n: k for k, n in enumerate(INTENSITY_CLASSES)}
    scored = total and any(
        names[i] in levels and levels[names[i]] and counts[i] for i in range(len(names))
    )
    h_score = (
        sum(levels.get(n, 0) * 100.0 * counts[i] / total for i, n in enumerate(names))
        if scored
        else math.nan
    )
    for index in [i for i in range(len(names)) if counts[i]] + [-1]:
        count = int(counts[index]) if index >= 0 else total
        name = names[index] if index >= 0 else ALL
        out.append(
            SummaryRow(
                region=label,
                region_class=region_class,
                region_area_mm2=area_mm2,
                object_class=name,
                count=count,
                percent=100.0 * count / total if total else 0.0,
                density_per_mm2=count / area_mm2 if area_mm2 > 0 else math.nan,
                h_score=h_score if index < 0 else math.nan,
            )
        )
    return out


def summarize(
    store: AnnotationStore, mpp: float | None, run_id: str | None = None
) -> list[SummaryRow]:
    """Rows per region (annotations with an area) and per class of the detections in it;
    first the rows of all detections together."""
    objects = store.object_table(kind=ObjectKind.DETECTION, run_id=run_id)
    names = sorted({c or UNCLASSIFIED for c in objects.class_names})
    lookup = {n: i for i, n in enumerate(names)}
    class_index = np.array([lookup[c or UNCLASSIFIED] for c in objects.class_names], dtype=np.int64)
    points = centroids(objects.geometries) if len(objects) else np.zeros((0, 2))
    rows = _rows(WHOLE_SLIDE, "", math.nan, class_index, names)
    regions = store.object_table(kind=ObjectKind.ANNOTATION)
    scale_mm2 = (mpp * mpp) / 1e6 if mpp else math.nan
    for rid, region, region_class in zip(
        regions.ids, regions.geometries, regions.class_names, strict=True
    ):
        area = float(shapely.area(region))
        if area <= 0:
            continue
        x0, y0, x1, y1 = shapely.bounds(region)
        near = np.flatnonzero(
            (points[:, 0] >= x0)
            & (points[:, 0] <= x1)
            & (points[:, 1] >= y0)
            & (points[:, 1] <= y1)
        )
        shapely.prepare(region)
        inside = near[shapely.contains_xy(region, points[near, 0], points[near, 1])]
        label = store_label(store, rid) or region_class or rid[:8]
        rows += _rows(label, region_class or "", area * scale_mm2, class_index[inside], names)
    return rows


def store_label(store: AnnotationStore, object_id: str) -> str | None:
    found = store.get(object_id)
    return found.name if found is not None else None


def write_summary_csv(rows: list[SummaryRow], path: str | Path) -> None:
    target = Path(path)
    try:
        with target.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(SummaryRow.__dataclass_fields__))
            writer.writeheader()
            for row in rows:
                writer.writerow(asdict(row))
    except OSError as error:
        raise FileProblemError(target, f"cannot write ({error.strerror})") from None
