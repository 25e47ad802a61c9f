"""Aperio ImageScope XML: ``<Annotations MicronsPerPixel>`` with layers of ``<Region>``s.

Each ``<Annotation>`` layer becomes a class (its Name, else its first attribute); its LineColor
is a Windows COLORREF. Region types: 0 free-hand polygon, 1 rectangle, 2 ellipse (two vertices:
the corners of its box), 3 arrow and 4 ruler (lines). A region with ``NegativeROA="1"`` is a hole
cut out of the region of the same layer that contains it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.classes import Colour, from_colorref, to_colorref
from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.formats import _xml
from tilescope.engine.annotations.formats._common import (
    DEFAULT_LIMITS,
    AnnotationFile,
    Limits,
    check_file_size,
    coords_array,
    ellipse,
    ring,
)
from tilescope.engine.annotations.formats._output import atomic_text_writer
from tilescope.engine.annotations.formats.asap import own_colour
from tilescope.engine.annotations.model import Annotation, ShapeType
from tilescope.engine.annotations.validation import repair, shape_for

FORMAT = "imagescope"
EXTENSIONS = (".xml",)
_DEFAULT_ATTRIBUTE = "Description"


def sniff(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<?xml"):
        text = text[text.find(b"?>") + 2 :].lstrip()
    return text.startswith(b"<Annotations") and b"<ASAP_Annotations" not in head


def _is_axis_box(xy: np.ndarray) -> bool:
    if len(xy) != 4:
        return False
    xs, ys = np.unique(xy[:, 0]), np.unique(xy[:, 1])
    return len(xs) == 2 and len(ys) == 2


def _region(
    path: Path, where: str, region_type: str, coords: list[tuple[float, float]], limits: Limits
) -> tuple[BaseGeometry, ShapeType]:
    xy = coords_array(path, where, coords, limits) if coords else None
    if xy is None:
        raise AnnotationFormatError(path, f"{where}: has no vertices")
    if region_type == "1" and (len(xy) == 2 or _is_axis_box(xy)):
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        return shapely.box(x0, y0, x1, y1), ShapeType.RECTANGLE
    if region_type == "2" and len(xy) == 2:
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        return ellipse(x0, y0, x1, y1), ShapeType.ELLIPSE
    if len(xy) == 1:
        return shapely.Point(xy[0]), ShapeType.POINT
    if region_type in ("3", "4") or len(xy) == 2:
        return shapely.LineString(xy), ShapeType.LINE
    return shapely.Polygon(ring(path, where, xy.tolist(), limits)), ShapeType.POLYGON


def _layer_class(layer: dict[str, Any]) -> str | None:
    if layer["name"]:
        return str(layer["name"])
    for _name, value in layer["attributes"]:
        if value:
            return str(value)
    for name, _ in layer["attributes"]:
        if name and name != _DEFAULT_ATTRIBUTE:
            return str(name)
    return None


def _finish_layer(
    path: Path, layer: dict[str, Any], out: list[Annotation], notes: list[str]
) -> None:
    class_name = _layer_class(layer)
    positives: list[list[Any]] = [r for r in layer["regions"] if not r[3]]
    for _, geometry, _, _, where in (r for r in layer["regions"] if r[3]):
        host = next(
            (
                p
                for p in positives
                if p[1].geom_type in ("Polygon", "MultiPolygon") and p[1].contains(geometry)
            ),
            None,
        )
        if host is None:
            notes.append(f"{path}: {where}: a negative region outside every region was ignored")
            continue
        host[1] = host[1].difference(geometry)
        if host[2] in (ShapeType.RECTANGLE, ShapeType.ELLIPSE):
            host[2] = ShapeType.POLYGON
    for name, geometry, shape, _, _ in positives:
        shape = ShapeType.MULTIPOLYGON if geometry.geom_type == "MultiPolygon" else shape
        out.append(
            Annotation(
                geometry=geometry,
                shape_type=shape,
                class_name=class_name,
                name=name or None,
                properties={"imagescope_layer": layer["id"]} if class_name is None else {},
            )
        )


def read(path: Path, limits: Limits = DEFAULT_LIMITS) -> AnnotationFile:
    check_file_size(path, limits)
    annotations: list[Annotation] = []
    colours: dict[str, Colour] = {}
    notes: list[str] = []
    repaired = 0
    mpp: float | None = None
    layer: dict[str, Any] | None = None
    coords: list[tuple[float, float]] = []
    container = None
    where = ""
    root_seen = False
    for event, element in _xml.events(path):
        tag = element.tag
        if not root_seen:
            if tag != "Annotations":
                raise AnnotationFormatError(path, f"not ImageScope XML (root element <{tag}>)")
            root_seen = True
            value = element.get("MicronsPerPixel")
            try:
                mpp = float(value) if value else None
            except ValueError:
                raise AnnotationFormatError(
                    path, f"MicronsPerPixel={value!r} is not a number"
                ) from None
            if mpp is not None and not (np.isfinite(mpp) and mpp > 0):
                mpp = None
        if event == "start":
            if tag == "Annotation":
                layer = {
                    "id": element.get("Id", ""),
                    "name": element.get("Name", ""),
                    "colour": element.get("LineColor"),
                    "attributes": [],
                    "regions": [],
                }
            elif tag == "Region":
                coords = []
                region_id = element.get("Id", "")
                where = f"layer {layer['id'] if layer else '?'} region {region_id}"
            elif tag == "Vertices":
                container = element
            continue
        if tag == "Vertex":
            _xml.add_vertex(path, where, element, coords, limits, container)
        elif tag == "Attribute" and layer is not None and not layer["regions"]:
            layer["attributes"].append((element.get("Name", ""), element.get("Value", "")))
        elif tag == "Region" and layer is not None:
            geometry, shape = _region(path, where, element.get("Type", "0"), coords, limits)
            if not geometry.is_valid:  # a bow-tie region: repair before holes are cut
                geometry = repair(geometry)
                repaired += 1
                if geometry.is_empty:
                    notes.append(f"{where}: a region without any area was left out")
                    element.clear()
                    continue
                shape = shape_for(geometry, ShapeType.POLYGON)
            negative = element.get("NegativeROA", "0") == "1"
            layer["regions"].append([element.get("Text", ""), geometry, shape, negative, where])
            element.clear()
        elif tag == "Annotation" and layer is not None:
            before = len(annotations)
            _finish_layer(path, layer, annotations, notes)
            class_name = _layer_class(layer)
            colour = None
            with contextlib.suppress(ValueError, TypeError):
                colour = from_colorref(int(layer["colour"]))
            if class_name and colour and len(annotations) > before:
                colours.setdefault(class_name, colour)
            if colour and colour != colours.get(class_name or ""):
                # An unnamed layer (or a second layer of a name) keeps its own LineColor.
                for i in range(before, len(annotations)):
                    a = annotations[i]
                    annotations[i] = a.evolve(properties={**a.properties, "color": list(colour)})
            if len(annotations) > limits.max_objects:
                raise AnnotationFormatError(path, "more regions than the limit")
            layer = None
            element.clear()
    if not root_seen:
        raise AnnotationFormatError(path, "empty XML document")
    return AnnotationFile(annotations, FORMAT, colours, mpp=mpp, notes=notes, repaired=repaired)


def _vertices(coords: Iterable[Any]) -> str:
    return "".join(f'<Vertex X="{float(c[0])!r}" Y="{float(c[1])!r}" Z="0"/>' for c in coords)


def _region_xml(region_id: int, kind: int, text: str, negative: bool, vertices: str) -> str:
    return (
        f'\t\t\t<Region Id="{region_id}" Type="{kind}" Zoom="1" Selected="0" ImageLocation="" '
        f'ImageFocus="-1" Text={quoteattr(text)} NegativeROA="{int(negative)}" '
        f'InputRegionId="0" Analyze="1" DisplayId="{region_id}"><Attributes/>'
        f"<Vertices>{vertices}</Vertices></Region>\n"
    )


def write(
    annotations: Iterable[Annotation],
    path: Path,
    class_colours: Mapping[str, Colour],
    mpp: float | None = None,
) -> list[str]:
    # One layer per class, and one per original unnamed layer (never merged into one).
    layers: dict[tuple[str | None, str | None], list[Annotation]] = {}
    for a in annotations:
        layer = a.properties.get("imagescope_layer") if a.class_name is None else None
        layers.setdefault((a.class_name, None if layer is None else str(layer)), []).append(a)
    skipped = 0
    with atomic_text_writer(path) as out:
        mpp_attr = f' MicronsPerPixel="{mpp!r}"' if mpp else ""
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Annotations{mpp_attr}>\n')
        for layer_id, ((class_name, _), items) in enumerate(layers.items(), start=1):
            default = class_colours.get(class_name or "", (0, 255, 0))
            own = own_colour(items[0]) if class_name is None else None  # a class's layer
            colour = to_colorref(own or default)  # has the class colour
            out.write(
                f'\t<Annotation Id="{layer_id}" Name={quoteattr(class_name or "")} ReadOnly="0" '
                f'NameReadOnly="0" LineColorReadOnly="0" Incremental="0" Type="4" '
                f'LineColor="{colour}" Visible="1" Selected="0" MarkupImagePath="" MacroName="">'
                f'\n\t\t<Attributes><Attribute Name="{_DEFAULT_ATTRIBUTE}" Id="0" Value=""/>'
                "</Attributes>\n\t\t<Regions>\n"
            )
            region_id = 0
            for a in items:
                geometry = a.geometry
                text = a.name or ""
                if geometry.geom_type not in ("Polygon", "MultiPolygon"):
                    skipped += 1
                    continue
                polys = [geometry] if geometry.geom_type == "Polygon" else list(geometry.geoms)
                for poly in polys:
                    region_id += 1
                    x0, y0, x1, y1 = poly.bounds
                    if a.shape_type == ShapeType.ELLIPSE and not poly.interiors:
                        out.write(
                            _region_xml(region_id, 2, text, False, _vertices([(x0, y0), (x1, y1)]))
                        )
                        continue
                    kind = 1 if a.shape_type == ShapeType.RECTANGLE else 0
                    exterior = list(poly.exterior.coords)[:-1]
                    out.write(_region_xml(region_id, kind, text, False, _vertices(exterior)))
                    for hole in poly.interiors:
                        region_id += 1
                        vertices = _vertices(list(hole.coords)[:-1])
                        out.write(_region_xml(region_id, 0, "", True, vertices))
            out.write("\t\t</Regions>\n\t</Annotation>\n")
        out.write("</Annotations>\n")
    notes = []
    if skipped:
        notes.append(f"ImageScope XML keeps regions only: {skipped} point/line object(s) left out")
    return notes
