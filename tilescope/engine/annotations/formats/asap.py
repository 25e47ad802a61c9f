"""ASAP XML (``<ASAP_Annotations>``), the format of the Camelyon challenges.

One ``<Annotation>`` per object with ``Type`` Dot, PointSet, Rectangle, Polygon, Spline or
Measurement (a line); ``PartOfGroup`` names the group, which we read as the class (``None`` =
unclassified) and ``<AnnotationGroups>`` give the group colours. ASAP has no holes and no
multi-part objects: the writer writes each part as its own object and says what it dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from xml.etree.ElementTree import Element
from xml.sax.saxutils import quoteattr

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.classes import Colour, check_colour, from_hex, to_hex
from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.formats import _xml
from tilescope.engine.annotations.formats._common import (
    DEFAULT_LIMITS,
    AnnotationFile,
    Limits,
    check_file_size,
    coords_array,
    ring,
)
from tilescope.engine.annotations.formats._output import atomic_text_writer
from tilescope.engine.annotations.model import Annotation, ShapeType

FORMAT = "asap"
EXTENSIONS = (".xml",)
_NO_GROUP = "None"
DEFAULT_COLOUR: Colour = (244, 250, 88)  # ASAP's colour for objects of no group


def sniff(head: bytes) -> bool:
    return b"<ASAP_Annotations" in head


def _build(
    path: Path, where: str, kind: str, coords: list[tuple[float, float]], limits: Limits
) -> tuple[BaseGeometry, ShapeType]:
    if not coords:
        raise AnnotationFormatError(path, f"{where}: has no coordinates")
    if kind == "Dot":
        return shapely.Point(coords_array(path, where, coords[:1], limits)[0]), ShapeType.POINT
    if kind == "PointSet":
        return shapely.MultiPoint(coords_array(path, where, coords, limits)), ShapeType.POINTS
    if kind == "Measurement":
        xy = coords_array(path, where, coords, limits)
        if len(xy) < 2:
            raise AnnotationFormatError(path, f"{where}: a measurement line needs 2 points")
        return shapely.LineString(xy), ShapeType.LINE
    if kind in ("Polygon", "Spline", "Rectangle"):
        shape = ShapeType.RECTANGLE if kind == "Rectangle" else ShapeType.POLYGON
        return shapely.Polygon(ring(path, where, coords, limits)), shape
    raise AnnotationFormatError(path, f"{where}: unsupported annotation Type {kind!r}")


def _order(path: Path, where: str, element: Element, default: int) -> float:
    text = element.get("Order")
    if text is None:
        return float(default)
    value = _xml.number(path, where, element, "Order")
    if not np.isfinite(value):
        raise AnnotationFormatError(path, f"{where}: Order={text!r} is not a finite number")
    return value


def read(path: Path, limits: Limits = DEFAULT_LIMITS) -> AnnotationFile:
    check_file_size(path, limits)
    annotations: list[Annotation] = []
    colours: dict[str, Colour] = {}
    annotation_colours: dict[str, Colour] = {}
    object_colours: list[Colour | None] = []
    coords: list[tuple[float, float]] = []
    orders: list[float] = []
    root_seen = False
    where = ""
    container = None  # the <Coordinates> element: finished children are dropped from it
    for event, element in _xml.events(path):
        tag = element.tag
        if not root_seen:
            if tag != "ASAP_Annotations":
                raise AnnotationFormatError(path, f"not ASAP XML (root element <{tag}>)")
            root_seen = True
        if event == "start":
            if tag == "Annotation":
                coords, orders = [], []
                where = f"annotation {len(annotations)} ({element.get('Name', '')})"
            elif tag == "Coordinates":
                container = element
            continue
        if tag == "Coordinate":
            _xml.add_vertex(path, where, element, coords, limits, container)
            orders.append(_order(path, where, element, len(orders)))
        elif tag == "Annotation":
            if np.any(np.diff(orders) < 0):
                coords = [coords[i] for i in np.argsort(orders, kind="stable")]
            geometry, shape = _build(path, where, element.get("Type", ""), coords, limits)
            group = element.get("PartOfGroup") or _NO_GROUP
            class_name = None if group == _NO_GROUP else group
            own: Colour | None = None
            if element.get("Color"):
                with contextlib.suppress(ValueError):
                    own = from_hex(element.get("Color", ""))
            if class_name and own:
                annotation_colours.setdefault(class_name, own)
            object_colours.append(own)
            annotations.append(
                Annotation(
                    geometry=geometry,
                    shape_type=shape,
                    class_name=class_name,
                    name=element.get("Name") or None,
                )
            )
            if len(annotations) > limits.max_objects:
                raise AnnotationFormatError(path, "more annotations than the limit")
            element.clear()
        elif tag == "Group":
            name = element.get("Name")
            if name and name != _NO_GROUP and element.get("Color"):
                with contextlib.suppress(ValueError):
                    colours[name] = from_hex(element.get("Color", ""))
    if not root_seen:
        raise AnnotationFormatError(path, "empty XML document")
    for name, colour in annotation_colours.items():
        colours.setdefault(name, colour)
    # An annotation whose Color is not its group's keeps it as its own colour (QuPath's key).
    for i, own in enumerate(object_colours):
        a = annotations[i]
        usual = colours.get(a.class_name) if a.class_name else DEFAULT_COLOUR
        if own is not None and own != usual:
            annotations[i] = a.evolve(properties={**a.properties, "color": list(own)})
    return AnnotationFile(annotations, FORMAT, colours)


def own_colour(a: Annotation) -> Colour | None:
    """The object's own colour (``properties["color"]``, QuPath's key), if it has a valid one."""
    try:
        return check_colour(a.properties.get("color"))
    except ValueError:
        return None


def _xy(coords: Iterable[tuple[float, ...]]) -> str:
    return "".join(
        f'<Coordinate Order="{i}" X="{x!r}" Y="{y!r}" />'
        for i, (x, y, *_) in enumerate((float(c[0]), float(c[1])) for c in coords)
    )


def write(
    annotations: Iterable[Annotation],
    path: Path,
    class_colours: Mapping[str, Colour],
    mpp: float | None = None,
) -> list[str]:
    del mpp  # ASAP coordinates are level-0 pixels
    holes = parts = 0
    groups: dict[str, Colour] = {}
    with atomic_text_writer(path) as out:
        out.write('<?xml version="1.0"?>\n<ASAP_Annotations>\n\t<Annotations>\n')
        count = 0
        for a in annotations:
            group = a.class_name or _NO_GROUP
            colour = class_colours.get(a.class_name or "", DEFAULT_COLOUR)
            if a.class_name:
                groups[a.class_name] = colour
            colour = own_colour(a) or colour
            geometry = a.geometry
            pieces: list[tuple[str, list[tuple[float, ...]]]] = []
            if geometry.geom_type == "Point":
                pieces.append(("Dot", list(geometry.coords)))
            elif geometry.geom_type == "MultiPoint":
                pieces.append(("PointSet", [p.coords[0] for p in geometry.geoms]))
            elif geometry.geom_type == "LineString":
                pieces.append(
                    (
                        "Measurement" if len(geometry.coords) == 2 else "Spline",
                        list(geometry.coords),
                    )
                )
            elif geometry.geom_type in ("Polygon", "MultiPolygon"):
                polys = [geometry] if geometry.geom_type == "Polygon" else list(geometry.geoms)
                parts += len(polys) - 1
                kind = "Rectangle" if a.shape_type == ShapeType.RECTANGLE else "Polygon"
                for poly in polys:
                    holes += len(poly.interiors)
                    pieces.append((kind, list(poly.exterior.coords)[:-1]))
            else:
                raise AnnotationFormatError(
                    path, f"object {a.id}: {geometry.geom_type} cannot be written as ASAP XML"
                )
            for kind, coords in pieces:
                name = quoteattr(a.name or f"Annotation {count}")
                out.write(
                    f'\t\t<Annotation Name={name} Type="{kind}" '
                    f'PartOfGroup={quoteattr(group)} Color="{to_hex(colour)}">'
                    f"<Coordinates>{_xy(coords)}</Coordinates></Annotation>\n"
                )
                count += 1
        out.write("\t</Annotations>\n\t<AnnotationGroups>\n")
        for name, colour in groups.items():
            out.write(
                f'\t\t<Group Name={quoteattr(name)} PartOfGroup="None" '
                f'Color="{to_hex(colour)}"><Attributes /></Group>\n'
            )
        out.write("\t</AnnotationGroups>\n</ASAP_Annotations>\n")
    notes = []
    if holes:
        notes.append(f"ASAP XML has no holes: {holes} hole(s) were left out")
    if parts:
        notes.append(f"ASAP XML has no multi-part objects: {parts} extra part(s) became objects")
    return notes
