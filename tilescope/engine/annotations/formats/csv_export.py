"""Measurements CSV: one row per object, for spreadsheets and statistics."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

from tilescope.engine.annotations.classes import Colour
from tilescope.engine.annotations.formats._output import atomic_text_writer
from tilescope.engine.annotations.measurements import measure_many
from tilescope.engine.annotations.model import Annotation
from tilescope.engine.annotations.validation import json_safe

FORMAT = "csv"
EXTENSIONS = (".csv",)
BASE_COLUMNS = [
    "id",
    "name",
    "class",
    "kind",
    "shape",
    "area_um2",
    "area_px",
    "perimeter_um",
    "perimeter_px",
    "centroid_x_px",
    "centroid_y_px",
    "score",
    "run_id",
]


#: A text cell starting with one of these is a formula to Excel/LibreOffice (OWASP CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _blank(value: float | None) -> str | float:
    """Missing and non-finite values are empty cells."""
    return "" if value is None or not math.isfinite(value) else value


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading single quote; numbers
    (negative ones too) are written as numbers and stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write(
    annotations: Iterable[Annotation],
    path: Path,
    class_colours: Mapping[str, Colour] | None = None,
    mpp: float | tuple[float, float] | None = None,
) -> list[str]:
    """Write the table; µm columns stay empty when the pixel size is unknown."""
    del class_colours
    items = list(annotations)
    measured = measure_many([a.geometry for a in items], mpp) if items else None
    # Stored measurements named like a base column (area_um2, perimeter_um) are not repeated.
    measurement_names = sorted({n for a in items for n in a.measurements} - set(BASE_COLUMNS))
    with atomic_text_writer(path, newline="") as out:
        writer = csv.writer(out)
        writer.writerow([safe_cell(v) for v in BASE_COLUMNS + measurement_names + ["properties"]])
        for i, a in enumerate(items):
            assert measured is not None
            area_um2 = None if measured.area_um2 is None else float(measured.area_um2[i])
            perim_um = None if measured.perimeter_um is None else float(measured.perimeter_um[i])
            row = (
                [
                    a.id,
                    a.name or "",
                    a.class_name or "",
                    str(a.kind),
                    str(a.shape_type),
                    _blank(area_um2),
                    float(measured.area_px[i]),
                    _blank(perim_um),
                    float(measured.perimeter_px[i]),
                    float(measured.centroid_x[i]),
                    float(measured.centroid_y[i]),
                    _blank(a.score),
                    a.run_id or "",
                ]
                + [_blank(a.measurements.get(name)) for name in measurement_names]
                + [json.dumps(json_safe(a.properties)) if a.properties else ""]
            )
            writer.writerow([safe_cell(v) for v in row])
    return []
