"""COCO instance JSON (for training and evaluating detection models; pycocotools reads it).

One image (the slide, or a region of it). Every area object is made valid (make_valid: 75 of
249 MoNuSeg nuclei cross themselves) and clipped to the image; a plain polygon is written as a
polygon, a polygon with holes or of several parts as compressed RLE (a polygon list would fill
the holes). ``area`` and ``bbox`` come from the same pixel mask as the RLE (pixel-centre rule),
so they agree with what pycocotools computes from the segmentation. Points and lines are not
instances and are left out (counted in a note).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.formats._output import atomic_text_writer
from tilescope.engine.annotations.formats.rle import runs_of_polygon
from tilescope.engine.annotations.model import Annotation
from tilescope.engine.annotations.validation import polygonal, repair

FORMAT = "coco"
EXTENSIONS = (".json",)
UNCLASSIFIED = "unclassified"


def image_size_from_bounds(annotations: Iterable[Annotation]) -> tuple[int, int]:
    """The smallest image from (0, 0) that holds every object: ``(width, height)``."""
    boxes = shapely.bounds(np.array([a.geometry for a in annotations], dtype=object))
    if not len(boxes):
        return 1, 1
    return max(1, math.ceil(np.nanmax(boxes[:, 2]))), max(1, math.ceil(np.nanmax(boxes[:, 3])))


def _segmentation(geometry: BaseGeometry, height: int, width: int) -> tuple[Any, int, list[float]]:
    """``(segmentation, area, bbox)`` of a valid area geometry in image pixels."""
    runs = runs_of_polygon(geometry, height, width)
    if geometry.geom_type == "Polygon" and not geometry.interiors:
        xy = np.asarray(geometry.exterior.coords)[:-1, :2]
        segmentation: Any = [xy.ravel().round(3).tolist()]
    else:
        segmentation = runs.to_coco()
    return segmentation, runs.area, runs.bbox()


def document(
    annotations: Iterable[Annotation],
    width: int,
    height: int,
    *,
    offset: tuple[float, float] = (0.0, 0.0),
    image_file_name: str = "",
    categories: list[str] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """The COCO document of the objects in the image whose level-0 corner is `offset`."""
    x0, y0 = offset
    image = shapely.box(0, 0, width, height)
    names = list(categories or [])
    entries: list[dict[str, Any]] = []
    items = list(annotations)
    shapes = np.array([a.geometry for a in items], dtype=object)
    is_area = np.isin(shapely.get_type_id(shapes), (3, 6))  # Polygon, MultiPolygon
    not_areas = int((~is_area).sum())
    items, shapes = [a for a, ok in zip(items, is_area, strict=True) if ok], shapes[is_area]
    if x0 or y0:
        shapes = shapely.transform(shapes, lambda xy: xy - [x0, y0])
    valid = shapely.is_valid(shapes)
    covered = shapely.covers(image, shapes)
    too_small = repaired = 0
    for a, geometry, is_valid, inside in zip(items, shapes, valid, covered, strict=True):
        if not is_valid:
            geometry = repair(geometry)
            repaired += 1
            inside = shapely.covers(image, geometry)
        if not inside:
            geometry = polygonal(shapely.intersection(geometry, image))
        if geometry.is_empty:
            continue  # outside the image
        segmentation, area, bbox = _segmentation(geometry, height, width)
        if area == 0:
            too_small += 1
            continue
        name = a.class_name or UNCLASSIFIED
        if name not in names:
            names.append(name)
        entry: dict[str, Any] = {
            "id": len(entries) + 1,
            "image_id": 1,
            "category_id": names.index(name) + 1,
            "segmentation": segmentation,
            "area": area,
            "bbox": bbox,
            "iscrowd": 0,
            "tilescope_id": a.id,
        }
        if a.score is not None and math.isfinite(a.score):
            entry["score"] = a.score
        entries.append(entry)
    if notes is not None:
        if repaired:
            notes.append(f"{repaired} invalid polygon(s) repaired with make_valid")
        if not_areas:
            notes.append(f"COCO instances are areas: {not_areas} point/line object(s) left out")
        if too_small:
            notes.append(f"{too_small} object(s) covering no pixel centre left out")
    return {
        "images": [
            {
                "id": 1,
                "file_name": image_file_name,
                "width": int(width),
                "height": int(height),
                "tilescope_region": [x0, y0, x0 + width, y0 + height],
            }
        ],
        "annotations": entries,
        "categories": [{"id": i + 1, "name": n, "supercategory": ""} for i, n in enumerate(names)],
    }


def write_document(doc: dict[str, Any], path: Path) -> None:
    with atomic_text_writer(path) as out:
        out.write(json.dumps(doc, allow_nan=False))  # dumps: the C encoder (dump is pure Python)


def write_image(
    annotations: Iterable[Annotation],
    path: Path,
    size: tuple[int, int] | None = None,
    *,
    image_file_name: str = "",
    categories: list[str] | None = None,
) -> list[str]:
    """Write the whole image (`size` = slide ``(width, height)``, else from the objects'
    bounds); returns notes on what was left out or repaired."""
    items = list(annotations)
    width, height = size if size is not None else image_size_from_bounds(items)
    notes: list[str] = []
    doc = document(
        items, width, height, image_file_name=image_file_name, categories=categories, notes=notes
    )
    write_document(doc, path)
    if width * height >= 1 << 32:
        notes.append(
            f"a {width} x {height} image has more pixels than pycocotools' 32-bit RLE counts "
            "hold; export a region or a downsampled mask for pycocotools"
        )
    return notes


def write(
    annotations: Iterable[Annotation],
    path: Path,
    region: tuple[float, float, float, float],
    *,
    image_file_name: str = "",
    categories: list[str] | None = None,
) -> dict[str, Any]:
    """Write objects clipped to `region` (level-0 ``x0, y0, x1, y1``), coordinates relative to
    its corner; returns the document."""
    x0, y0, x1, y1 = region
    doc = document(
        annotations,
        round(x1 - x0),
        round(y1 - y0),
        offset=(x0, y0),
        image_file_name=image_file_name,
        categories=categories,
    )
    write_document(doc, path)
    return doc
