"""Digital Slide Archive / HistomicsTK annotation JSON.

A document ``{"name", "elements": [...]}`` or a list of them (the DSA API wraps each as
``{"annotation": {...}}``). Element types: ``polyline`` (``points`` of ``[x, y, z]``, ``closed``,
optional ``holes``), ``rectangle`` and ``ellipse`` (``center``, ``width``, ``height``,
``rotation`` in radians), ``circle`` (``center``, ``radius``) and ``point`` (``center``).
Coordinates are level-0 pixels. The element's ``group`` (else the document's name) is the
class; ``lineColor`` (``rgb()``, ``rgba()`` or ``#rrggbb``) the class colour, or the object's
own colour (``properties["color"]``, QuPath's key) where it differs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.classes import Colour
from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.formats._common import (
    DEFAULT_LIMITS,
    AnnotationFile,
    Limits,
    coords_array,
    ellipse,
    polygon,
)
from tilescope.engine.annotations.formats._output import atomic_text_writer
from tilescope.engine.annotations.model import Annotation, ShapeType
from tilescope.engine.colour import is_hex, parse_hex

FORMAT = "dsa"
EXTENSIONS = (".json",)
_UNCLASSIFIED = "tilescope_unclassified"
_RGB = re.compile(r"^\s*rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*[\d.]+\s*)?\)\s*$")


def sniff(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return (
        text.startswith((b"{", b"["))
        and b'"elements"' in head
        and b'"Feature' not in head  # "Feature" and "FeatureCollection": GeoJSON
    )


def parse_colour(text: object) -> Colour | None:
    """``rgb(r, g, b)``, ``rgba(r, g, b, a)`` or ``#rrggbb``; None for anything else."""
    if not isinstance(text, str):
        return None
    match = _RGB.match(text)
    if match:
        values = tuple(int(v) for v in match.groups())
        return values if all(v <= 255 for v in values) else None  # type: ignore[return-value]
    value = text.strip()
    return parse_hex(value) if is_hex(value) else None


def _documents(path: Path, data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and isinstance(item.get("annotation"), dict):
            item = item["annotation"]  # the DSA API's wrapper
        if not isinstance(item, dict) or not isinstance(item.get("elements"), list):
            raise AnnotationFormatError(path, f"document {i}: not an annotation with 'elements'")
        out.append(item)
    return out


def _number(path: Path, where: str, element: dict[str, Any], key: str, default: float) -> float:
    value = element.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AnnotationFormatError(path, f"{where}: {key}={value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise AnnotationFormatError(path, f"{where}: {key} is too large") from None
    if not math.isfinite(number):
        raise AnnotationFormatError(path, f"{where}: {key} must be finite")
    return number


def _centre(path: Path, where: str, element: dict[str, Any], limits: Limits) -> np.ndarray:
    return coords_array(path, where, [element.get("center")], limits)[0]


def _element(
    path: Path, where: str, element: dict[str, Any], limits: Limits
) -> tuple[BaseGeometry, ShapeType]:
    kind = element.get("type")
    if kind == "point":
        return shapely.Point(_centre(path, where, element, limits)), ShapeType.POINT
    if kind == "polyline":
        points = element.get("points")
        if element.get("closed"):
            rings = [points, *(element.get("holes") or [])]
            return polygon(path, where, rings, limits), ShapeType.POLYGON
        xy = coords_array(path, where, points, limits)
        if len(xy) < 2:
            raise AnnotationFormatError(path, f"{where}: an open polyline needs 2 points")
        return shapely.LineString(xy), ShapeType.LINE
    if kind in ("rectangle", "ellipse", "circle"):
        cx, cy = _centre(path, where, element, limits)
        if kind == "circle":
            radius = _number(path, where, element, "radius", 0)
            width = height = 2 * radius
        else:
            width = _number(path, where, element, "width", 0)
            height = _number(path, where, element, "height", 0)
        if width <= 0 or height <= 0:
            raise AnnotationFormatError(path, f"{where}: a {kind} needs a positive size")
        rotation = _number(path, where, element, "rotation", 0) if kind != "circle" else 0.0
        x0, y0, x1, y1 = cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2
        if kind == "rectangle":
            geometry, shape = shapely.box(x0, y0, x1, y1), ShapeType.RECTANGLE
        else:
            geometry, shape = ellipse(x0, y0, x1, y1), ShapeType.ELLIPSE
        if rotation:
            geometry = shapely.affinity.rotate(geometry, rotation, (cx, cy), use_radians=True)
            shape = ShapeType.POLYGON if kind == "rectangle" else shape
        return geometry, shape
    raise AnnotationFormatError(path, f"{where}: unsupported element type {kind!r}")


def read(path: Path, limits: Limits = DEFAULT_LIMITS) -> AnnotationFile:
    from tilescope.engine.annotations.formats.geojson import load_json

    documents = _documents(path, load_json(path, limits))
    annotations: list[Annotation] = []
    colours: dict[str, Colour] = {}
    for d, document in enumerate(documents):
        attributes = document.get("attributes")
        unclassified = isinstance(attributes, dict) and attributes.get(_UNCLASSIFIED) is True
        doc_name = document.get("name") if isinstance(document.get("name"), str) else None
        for e, element in enumerate(document["elements"]):
            where = f"document {d} element {e}"
            if not isinstance(element, dict):
                raise AnnotationFormatError(path, f"{where}: not an object")
            geometry, shape = _element(path, where, element, limits)
            group = element.get("group")
            class_name = group if isinstance(group, str) and group else doc_name
            if unclassified and not (isinstance(group, str) and group):
                class_name = None
            label = element.get("label")
            name = label.get("value") if isinstance(label, dict) else None
            properties: dict[str, Any] = {}
            colour = parse_colour(element.get("lineColor"))
            if colour is not None:
                if class_name and class_name not in colours:
                    colours[class_name] = colour
                if colour != colours.get(class_name or ""):
                    properties["color"] = list(colour)
            annotations.append(
                Annotation(
                    geometry=geometry,
                    shape_type=shape,
                    class_name=class_name or None,
                    name=name if isinstance(name, str) and name else None,
                    properties=properties,
                )
            )
            if len(annotations) > limits.max_objects:
                raise AnnotationFormatError(path, "more elements than the limit")
    return AnnotationFile(annotations, FORMAT, colours)


def _points(coords: Iterable[Any]) -> list[list[float]]:
    return [[float(c[0]), float(c[1]), 0.0] for c in coords]


def _rgb(colour: Colour) -> str:
    return "rgb({},{},{})".format(*colour)


def _elements(a: Annotation, colour: Colour) -> list[dict[str, Any]]:
    own = a.properties.get("color")
    if isinstance(own, list) and len(own) == 3 and all(isinstance(v, int) for v in own):
        colour = (own[0], own[1], own[2])
    style: dict[str, Any] = {"lineColor": _rgb(colour), "lineWidth": 2}
    if a.class_name:
        style["group"] = a.class_name
    if a.name:
        style["label"] = {"value": a.name}
    g = a.geometry
    kind = g.geom_type
    if kind == "Point":
        return [{"type": "point", "center": _points([g.coords[0]])[0], **style}]
    if kind == "MultiPoint":
        return [{"type": "point", "center": _points([p.coords[0]])[0], **style} for p in g.geoms]
    if kind in ("LineString", "MultiLineString"):
        lines = [g] if kind == "LineString" else list(g.geoms)
        return [
            {"type": "polyline", "points": _points(line.coords), "closed": False, **style}
            for line in lines
        ]
    polys = [g] if kind == "Polygon" else list(getattr(g, "geoms", []))
    x0, y0, x1, y1 = g.bounds
    centre = [(x0 + x1) / 2, (y0 + y1) / 2, 0.0]
    is_box = kind == "Polygon" and not g.interiors and g.equals(shapely.box(x0, y0, x1, y1))
    if is_box and a.shape_type == ShapeType.RECTANGLE:
        box = {"center": centre, "width": x1 - x0, "height": y1 - y0, "rotation": 0}
        return [{"type": "rectangle", **box, **style}]
    if kind == "Polygon" and not g.interiors and a.shape_type == ShapeType.ELLIPSE:
        box = {"center": centre, "width": x1 - x0, "height": y1 - y0, "rotation": 0}
        return [{"type": "ellipse", **box, **style}]
    out = []
    for poly in polys:
        element: dict[str, Any] = {
            "type": "polyline",
            "points": _points(list(poly.exterior.coords)[:-1]),
            "closed": True,
            **style,
        }
        if poly.interiors:
            element["holes"] = [_points(list(h.coords)[:-1]) for h in poly.interiors]
        out.append(element)
    return out


def write(
    annotations: Iterable[Annotation],
    path: Path,
    class_colours: Mapping[str, Colour],
    mpp: float | None = None,
) -> list[str]:
    """One annotation document per class (its name = the class), as a JSON list."""
    del mpp  # DSA coordinates are level-0 pixels
    documents: dict[str | None, list[dict[str, Any]]] = {}
    parts = 0
    for a in annotations:
        colour = class_colours.get(a.class_name or "", (0, 255, 0))
        elements = _elements(a, colour)
        if a.geometry.geom_type.startswith("Multi") and len(elements) > 1:
            parts += len(elements) - 1
        documents.setdefault(a.class_name, []).extend(elements)
    out = []
    for name, elements in documents.items():
        document: dict[str, Any] = {"name": name or "Unclassified", "elements": elements}
        if name is None:
            document["attributes"] = {_UNCLASSIFIED: True}
        out.append(document)
    with atomic_text_writer(path) as handle:
        handle.write(json.dumps(out, allow_nan=False))  # dumps: the C encoder
    if parts:
        return [f"DSA elements have one part each: {parts} extra part(s) became elements"]
    return []
