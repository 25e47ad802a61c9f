"""QuPath GeoJSON: reads the <= 0.2 and >= 0.3 styles, writes the >= 0.3 style QuPath imports.

<= 0.2: a bare JSON array of Features whose ``id`` is the object type (``PathAnnotationObject``)
and whose ``classification.colorRGB`` is a packed signed ARGB int; measurements as a list of
``{name, value}``. >= 0.3: a FeatureCollection (or one Feature) with a uuid ``id``,
``properties.objectType`` and ``classification.color = [r, g, b]``; measurements as an object.
Coordinates are level-0 pixels with QuPath's pixel-corner convention, same as ours.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.classes import Colour, check_colour, from_qupath_argb
from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.formats._common import (
    DEFAULT_LIMITS,
    AnnotationFile,
    Limits,
    check_file_size,
    coords_array,
    polygon,
)
from tilescope.engine.annotations.formats._output import atomic_text_writer
from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.annotations.validation import json_safe

FORMAT = "geojson"
EXTENSIONS = (".geojson", ".json")

_QUPATH_02_TYPES = {
    "PathAnnotationObject": ObjectKind.ANNOTATION,
    "PathDetectionObject": ObjectKind.DETECTION,
    "PathCellObject": ObjectKind.DETECTION,
    "PathTileObject": ObjectKind.DETECTION,
}
_OBJECT_TYPES = {
    "annotation": ObjectKind.ANNOTATION,
    "detection": ObjectKind.DETECTION,
    "cell": ObjectKind.DETECTION,
    "tile": ObjectKind.DETECTION,
}
_KNOWN_PROPERTIES = {"objectType", "classification", "name", "measurements", "tilescope"}
_SHAPE_NAMES = frozenset(s.value for s in ShapeType)
_DEFAULT_SHAPES = {
    "Point": ShapeType.POINT,
    "MultiPoint": ShapeType.POINTS,
    "LineString": ShapeType.LINE,
    "MultiLineString": ShapeType.LINE,
    "Polygon": ShapeType.POLYGON,
    "MultiPolygon": ShapeType.MULTIPOLYGON,
}


def sniff(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith((b"{", b"["))


def _check_vertex_counts(path: Path, raw: bytes, limits: Limits) -> None:
    """Refuse a huge coordinate list before `json` builds millions of Python lists for it."""
    limit = limits.max_vertices_per_geometry
    if raw.count(b"[") <= limit:
        return
    compact = raw.translate(None, b" \t\r\n")
    if compact.count(b"],[") <= limit:
        return
    # A ring (or point list) ends at "]]": count the "],[" separators since the previous one
    # (in place: no copy of a file that may be a gigabyte).
    longest = start = 0
    while start < len(compact):
        end = compact.find(b"]]", start)
        end = len(compact) if end < 0 else end
        longest = max(longest, compact.count(b"],[", start, end))
        start = end + 2
    if longest + 1 > limit:
        raise AnnotationFormatError(
            path,
            f"a coordinate list has {longest + 1:,} vertices, more than the limit of {limit:,}",
        )


def load_json(path: Path, limits: Limits) -> Any:
    """Parse a JSON file within the limits; any failure is one AnnotationFormatError line."""
    check_file_size(path, limits)
    raw = path.read_bytes()
    _check_vertex_counts(path, raw, limits)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AnnotationFormatError(path, f"not UTF-8 text (byte {error.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise AnnotationFormatError(
            path,
            f"line {error.lineno} column {error.colno}: invalid or truncated JSON ({error.msg})",
        ) from None
    except RecursionError:
        raise AnnotationFormatError(path, "JSON nested too deeply") from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise AnnotationFormatError(path, "a number in the JSON has too many digits") from None


def _features(path: Path, data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        kind = data.get("type")
        if kind == "FeatureCollection":
            features = data.get("features")
            if not isinstance(features, list):
                raise AnnotationFormatError(path, "FeatureCollection without a 'features' list")
            return features
        if kind == "Feature":
            return [data]
        if kind in _DEFAULT_SHAPES or kind == "GeometryCollection":
            return [{"type": "Feature", "geometry": data, "properties": {}}]
    raise AnnotationFormatError(
        path, "not GeoJSON: expected a FeatureCollection, a Feature or a list of Features"
    )


def _geometry(path: Path, where: str, geometry: Any, limits: Limits) -> BaseGeometry:
    if not isinstance(geometry, dict):
        raise AnnotationFormatError(path, f"{where}: has no geometry")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind not in _DEFAULT_SHAPES:
        raise AnnotationFormatError(path, f"{where}: unsupported geometry type {kind!r}")
    if coords is None:
        raise AnnotationFormatError(path, f"{where}: {kind} without coordinates")
    if kind == "Point":
        xy = coords_array(path, where, [coords], limits)
        return shapely.Point(xy[0])
    if kind in ("MultiPoint", "LineString"):
        xy = coords_array(path, where, coords, limits)
        if kind == "MultiPoint":
            return shapely.MultiPoint(xy)
        if len(xy) < 2:
            raise AnnotationFormatError(path, f"{where}: a line needs at least 2 vertices")
        return shapely.LineString(xy)
    if not isinstance(coords, list):
        raise AnnotationFormatError(path, f"{where}: {kind} coordinates must be a list")
    if kind == "MultiLineString":
        lines = [coords_array(path, f"{where} line {i}", c, limits) for i, c in enumerate(coords)]
        if not lines or any(len(line) < 2 for line in lines):
            raise AnnotationFormatError(path, f"{where}: each line needs at least 2 vertices")
        return shapely.MultiLineString(lines)
    if kind == "Polygon":
        return polygon(path, where, coords, limits)
    if not coords:
        raise AnnotationFormatError(path, f"{where}: MultiPolygon without any polygon")
    parts = [polygon(path, f"{where} part {i}", p, limits) for i, p in enumerate(coords)]
    total = sum(shapely.get_num_coordinates(p) for p in parts)
    if total > limits.max_vertices_per_geometry:
        raise AnnotationFormatError(
            path,
            f"{where}: {total:,} vertices, more than the limit of "
            f"{limits.max_vertices_per_geometry:,}",
        )
    return shapely.MultiPolygon(parts)


def _measurements(value: Any) -> dict[str, float]:
    """Both QuPath forms: ``{"Area": 12.0}`` and ``[{"name": "Area", "value": 12.0}]``."""
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, list):
        pairs = ((m.get("name"), m.get("value")) for m in value if isinstance(m, dict))
    else:
        return {}
    out = {}
    for name, number in pairs:
        if not isinstance(name, str):
            continue
        value = _finite_number(number)
        if value is not None:
            out[name] = value
        elif number is None or isinstance(number, float):
            out[name] = math.nan  # QuPath writes missing values as null/NaN
    return out


def _finite_number(value: Any) -> float | None:
    """A finite float from a JSON number (not a bool); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _classification(value: Any) -> tuple[str | None, Colour | None]:
    if not isinstance(value, dict):
        return (value if isinstance(value, str) else None), None
    name = value.get("name")
    names = value.get("names")  # QuPath >= 0.4 derived classes
    if not isinstance(name, str) and isinstance(names, list) and names:
        name = ": ".join(str(n) for n in names)
    colour: Colour | None = None
    if isinstance(value.get("color"), list):
        try:
            colour = check_colour(value["color"])
        except ValueError:
            colour = None
    elif isinstance(value.get("colorRGB"), int):
        colour = from_qupath_argb(value["colorRGB"])
    return (name if isinstance(name, str) else None), colour


def _feature(
    path: Path, index: int, feature: Any, limits: Limits, colours: dict[str, Colour]
) -> Annotation:
    where = f"feature {index}"
    if not isinstance(feature, dict) or feature.get("type", "Feature") != "Feature":
        raise AnnotationFormatError(path, f"{where}: not a GeoJSON Feature")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise AnnotationFormatError(path, f"{where}: 'properties' must be an object")
    name = props.get("name") if isinstance(props.get("name"), str) else None
    if name:
        where = f"{where} ({name})"
    geometry = _geometry(path, where, feature.get("geometry"), limits)

    raw_id = feature.get("id", props.get("id"))
    kind = ObjectKind.ANNOTATION
    object_id = str(uuid.uuid4())
    if isinstance(raw_id, str) and raw_id in _QUPATH_02_TYPES:
        kind = _QUPATH_02_TYPES[raw_id]
    elif isinstance(raw_id, (str, int)) and str(raw_id):
        object_id = str(raw_id)
    object_type = props.get("objectType")
    if isinstance(object_type, str) and object_type in _OBJECT_TYPES:
        kind = _OBJECT_TYPES[object_type]

    class_name, colour = _classification(props.get("classification"))
    if class_name and colour:
        colours.setdefault(class_name, colour)
    raw_ours = props.get("tilescope")
    ours: dict[str, Any] = raw_ours if isinstance(raw_ours, dict) else {}
    shape_type = _DEFAULT_SHAPES[geometry.geom_type]
    if isinstance(ours.get("shape_type"), str) and ours["shape_type"] in _SHAPE_NAMES:
        shape_type = ShapeType(ours["shape_type"])
    extra = {k: v for k, v in props.items() if k not in _KNOWN_PROPERTIES}
    user = ours.get("properties") or {}
    if not isinstance(user, dict):
        raise AnnotationFormatError(path, f"{where}: 'tilescope.properties' must be an object")
    extra.update(user)
    if object_type == "cell":
        extra.setdefault("objectType", "cell")
    score = _finite_number(ours.get("score"))
    return Annotation(
        geometry=geometry,
        shape_type=shape_type,
        class_name=class_name,
        kind=kind,
        name=name,
        score=score,
        properties=extra,
        measurements=_measurements(props.get("measurements")),
        run_id=ours.get("run_id") if isinstance(ours.get("run_id"), str) else None,
        id=object_id,
    )


def read(path: Path, limits: Limits = DEFAULT_LIMITS) -> AnnotationFile:
    features = _features(path, load_json(path, limits))
    if len(features) > limits.max_objects:
        raise AnnotationFormatError(path, f"{len(features):,} features, more than the limit")
    colours: dict[str, Colour] = {}
    annotations = [_feature(path, i, f, limits, colours) for i, f in enumerate(features)]
    return AnnotationFile(annotations, FORMAT, colours)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def write(
    annotations: Iterable[Annotation],
    path: Path,
    class_colours: Mapping[str, Colour],
    mpp: float | None = None,
) -> list[str]:
    """Write a QuPath >= 0.3 FeatureCollection, streaming (a million objects fit)."""
    del mpp  # GeoJSON coordinates are pixels; QuPath knows the pixel size from the slide
    skipped = 0
    with atomic_text_writer(path) as out:
        out.write('{"type":"FeatureCollection","features":[\n')
        first = True
        for batch in _batches(annotations, 5000):
            shapes = np.array([a.geometry for a in batch], dtype=object)
            finite = np.isfinite(shapely.bounds(shapes)).all(axis=1)
            geometries = shapely.to_geojson(shapes)
            for a, geometry, ok in zip(batch, geometries, finite, strict=True):
                if not ok:  # JSON has no NaN/Infinity; such an object has no position
                    skipped += 1
                    continue
                props = encode_properties(a, class_colours)
                out.write(
                    ("" if first else ",\n")
                    + f'{{"type":"Feature","id":{json.dumps(a.id)},"geometry":{geometry},'
                    f'"properties":{json.dumps(props, allow_nan=False)}}}'
                )
                first = False
        out.write("\n]}\n")
    if skipped:
        return [f"{skipped} object(s) with non-finite coordinates left out"]
    return []


#: User properties written at the top level of `properties` (where other tools look for them)
#: rather than under "tilescope"; the reader takes unknown top-level keys back as properties.
#: "isLocked" and "color" are QuPath's own per-object keys: they go back where QuPath reads them.
TOP_LEVEL_PROPERTIES = ("scene", "isLocked", "color")


def encode_properties(a: Annotation, class_colours: Mapping[str, Colour]) -> dict[str, Any]:
    """The `properties` of one Feature: QuPath's keys, and ours under "tilescope"."""
    props: dict[str, Any] = {
        "objectType": "detection" if a.kind == ObjectKind.DETECTION else "annotation"
    }
    if a.properties.get("objectType") == "cell":
        props["objectType"] = "cell"
    if a.name:
        props["name"] = a.name
    if a.class_name:
        colour = class_colours.get(a.class_name)
        props["classification"] = {"name": a.class_name}
        if colour:
            props["classification"]["color"] = list(colour)
    if a.measurements:
        props["measurements"] = {k: _finite_or_none(v) for k, v in a.measurements.items()}
    ours: dict[str, Any] = {}
    if a.shape_type != _DEFAULT_SHAPES.get(a.geometry.geom_type):
        ours["shape_type"] = str(a.shape_type)
    if a.score is not None and math.isfinite(a.score):
        ours["score"] = a.score
    if a.run_id:
        ours["run_id"] = a.run_id
    user = {k: v for k, v in a.properties.items() if k != "objectType"}
    for key in TOP_LEVEL_PROPERTIES:
        if key in user:
            props[key] = json_safe(user.pop(key))
    if user:
        ours["properties"] = json_safe(user)
    if ours:
        props["tilescope"] = ours
    return props


def encode_feature(a: Annotation, class_colours: Mapping[str, Colour]) -> dict[str, Any]:
    """One object as a GeoJSON Feature (a dict), exactly as `write` writes it."""
    geometry = json.loads(shapely.to_geojson(a.geometry))
    return {
        "type": "Feature",
        "id": a.id,
        "geometry": geometry,
        "properties": encode_properties(a, class_colours),
    }


def decode_feature(feature: Any, path: Path = Path("<feature>")) -> Annotation:
    """One Feature (a dict) back as an object, exactly as `read` reads it."""
    return _feature(path, 0, feature, DEFAULT_LIMITS, {})


def _batches(items: Iterable[Annotation], size: int) -> Iterable[list[Annotation]]:
    batch: list[Annotation] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
