"""COCO instance JSON of the objects in one region (for training detection models)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from tilescope.engine.annotations.formats._output import atomic_text_writer
from tilescope.engine.annotations.model import Annotation


def write(
    annotations: Iterable[Annotation],
    path: Path,
    region: tuple[float, float, float, float],
    *,
    image_file_name: str = "",
    categories: list[str] | None = None,
) -> dict[str, Any]:
    """Write objects clipped to `region` (level-0 ``x0, y0, x1, y1``), coordinates relative to
    its corner; returns the document. Points and lines are skipped (COCO instances are areas)."""
    x0, y0, x1, y1 = region
    box = shapely.box(x0, y0, x1, y1)
    names = list(categories or [])
    entries: list[dict[str, Any]] = []
    for a in annotations:
        clipped = shapely.intersection(a.geometry, box)
        polys = [g for g in getattr(clipped, "geoms", [clipped]) if g.geom_type == "Polygon"]
        polys = [p for p in polys if not p.is_empty and p.area > 0]
        if not polys:
            continue
        name = a.class_name or "unclassified"
        if name not in names:
            names.append(name)
        segmentation = [
            (np.asarray(p.exterior.coords)[:-1] - [x0, y0]).ravel().round(3).tolist() for p in polys
        ]
        bx0, by0, bx1, by1 = shapely.MultiPolygon(polys).bounds
        entries.append(
            {
                "id": len(entries) + 1,
                "image_id": 1,
                "category_id": names.index(name) + 1,
                "segmentation": segmentation,
                "area": float(sum(p.area for p in polys)),
                "bbox": [bx0 - x0, by0 - y0, bx1 - bx0, by1 - by0],
                "iscrowd": 0,
                "score": a.score,
                "tilescope_id": a.id,
            }
        )
    document = {
        "images": [
            {
                "id": 1,
                "file_name": image_file_name,
                "width": round(x1 - x0),
                "height": round(y1 - y0),
                "tilescope_region": [x0, y0, x1, y1],
            }
        ],
        "annotations": entries,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)],
    }
    with atomic_text_writer(path) as out:
        json.dump(document, out)
    return document
