"""Property tests (hypothesis): any JSON or XML a reader is handed gives annotations or one
AnnotationFormatError, never another exception; what a reader returns can always be stored and
written back; validated geometry is valid, non-empty and inside the slide when clipped."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tilescope.engine.annotations import Annotation, AnnotationFormatError
from tilescope.engine.annotations.formats import read_annotations, write_annotations
from tilescope.engine.annotations.formats.rle import runs_of_polygon
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.annotations.validation import SlideBounds, check_annotations

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WORK = Path(tempfile.mkdtemp(prefix="tilescope-properties-"))

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 1e308, -1e-308, 10**400]),
)
text = st.one_of(st.text(max_size=12), st.sampled_from(["\ud800", "=cmd", "\x00", "é" * 3]))
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=20,
)
points = st.lists(st.one_of(st.lists(numbers, min_size=0, max_size=3), json_values), max_size=6)
geometry_types = st.sampled_from(
    ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "Circle"]
)


def coordinates_for(kind: str) -> st.SearchStrategy:
    ring = st.lists(st.lists(numbers, min_size=2, max_size=2), min_size=0, max_size=6)
    return {
        "Point": st.lists(numbers, min_size=0, max_size=3),
        "MultiPoint": ring,
        "LineString": ring,
        "MultiLineString": st.lists(ring, max_size=3),
        "Polygon": st.lists(ring, max_size=3),
        "MultiPolygon": st.lists(st.lists(ring, max_size=2), max_size=3),
    }.get(kind, json_values)


@st.composite
def geojson_documents(draw: st.DrawFn) -> object:
    features = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(geometry_types)
        geometry = {"type": kind, "coordinates": draw(coordinates_for(kind))}
        properties = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": json_values,
                    "classification": st.one_of(
                        json_values,
                        st.fixed_dictionaries(
                            {"name": json_values}, optional={"color": json_values}
                        ),
                    ),
                    "measurements": json_values,
                    "tilescope": st.one_of(
                        json_values,
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "properties": json_values,
                                "shape_type": json_values,
                                "score": json_values,
                                "run_id": json_values,
                            },
                        ),
                    ),
                    "isLocked": json_values,
                    "color": json_values,
                },
            )
        )
        feature = {"type": "Feature", "geometry": geometry, "properties": properties}
        features.append(draw(st.one_of(st.just(feature), json_values)))
    return draw(
        st.sampled_from(
            [
                {"type": "FeatureCollection", "features": features},
                features,
                features[0] if features else {},
            ]
        )
    )


@st.composite
def dsa_documents(draw: st.DrawFn) -> object:
    elements = []
    for _ in range(draw(st.integers(0, 3))):
        element = {
            "type": draw(st.sampled_from(["polyline", "rectangle", "ellipse", "circle", "point"])),
            "points": draw(points),
            "closed": draw(st.booleans()),
            "center": draw(st.lists(numbers, max_size=3)),
        }
        for key in ("width", "height", "radius", "rotation", "group", "lineColor", "holes"):
            if draw(st.booleans()):
                element[key] = draw(json_values)
        elements.append(element)
    document = {"name": draw(json_values), "elements": elements}
    return draw(st.sampled_from([document, [document], [{"annotation": document}]]))


def xml_number() -> st.SearchStrategy[str]:
    return st.one_of(
        numbers.map(str), st.sampled_from(["zero", "", "nan", "-inf", "1e999", "0x10"]), text
    )


@st.composite
def asap_documents(draw: st.DrawFn) -> str:
    annotations = []
    for _ in range(draw(st.integers(0, 3))):
        coords = "".join(
            f"<Coordinate Order={quoteattr(draw(xml_number()))} X={quoteattr(draw(xml_number()))} "
            f"Y={quoteattr(draw(xml_number()))}/>"
            for _ in range(draw(st.integers(0, 5)))
        )
        kind = draw(st.sampled_from(["Dot", "PointSet", "Polygon", "Spline", "Rectangle", "X"]))
        annotations.append(
            f'<Annotation Name={quoteattr(draw(text))} Type="{kind}" '
            f"PartOfGroup={quoteattr(draw(text))} Color={quoteattr(draw(text))}>"
            f"<Coordinates>{coords}</Coordinates></Annotation>"
        )
    return f"<ASAP_Annotations><Annotations>{''.join(annotations)}</Annotations></ASAP_Annotations>"


@st.composite
def imagescope_documents(draw: st.DrawFn) -> str:
    layers = []
    for i in range(draw(st.integers(0, 3))):
        regions = []
        for j in range(draw(st.integers(0, 3))):
            vertices = "".join(
                f"<Vertex X={quoteattr(draw(xml_number()))} Y={quoteattr(draw(xml_number()))}/>"
                for _ in range(draw(st.integers(0, 5)))
            )
            region_type = draw(st.sampled_from(["0", "1", "2", "3", "x"]))
            regions.append(
                f'<Region Id="{j}" Type="{region_type}" '
                f'NegativeROA="{draw(st.sampled_from(["0", "1"]))}" Text={quoteattr(draw(text))}>'
                f"<Vertices>{vertices}</Vertices></Region>"
            )
        layers.append(
            f'<Annotation Id="{i}" Name={quoteattr(draw(text))} '
            f"LineColor={quoteattr(draw(xml_number()))}><Regions>{''.join(regions)}</Regions>"
            "</Annotation>"
        )
    mpp = draw(xml_number())
    return f"<Annotations MicronsPerPixel={quoteattr(mpp)}>{''.join(layers)}</Annotations>"


def _survives(name: str, data: bytes) -> None:
    """The property: a result that can be stored and written, or an AnnotationFormatError."""
    path = WORK / name
    path.write_bytes(data)
    try:
        found = read_annotations(path)
    except AnnotationFormatError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    for a in found.annotations:
        assert not a.geometry.is_empty and a.geometry.is_valid
    store_path = WORK / f"{name}.sqlite"
    store_path.unlink(missing_ok=True)
    with AnnotationStore(store_path) as store:
        store.add_many(found.annotations)
        assert store.count() == len(found.annotations)
    for target, suffix in (("geojson", ".geojson"), ("csv", ".csv"), ("dsa", ".json")):
        write_annotations(found.annotations, WORK / f"{name}.out{suffix}", target)


def _json_bytes(document: object) -> bytes:
    return json.dumps(document).encode("utf-8", "surrogatepass")


@SETTINGS
@given(geojson_documents())
def test_any_geojson_gives_annotations_or_one_error(document: object) -> None:
    _survives("any.geojson", _json_bytes(document))


@SETTINGS
@given(dsa_documents())
def test_any_dsa_json_gives_annotations_or_one_error(document: object) -> None:
    _survives("any_dsa.json", _json_bytes(document))


@SETTINGS
@given(asap_documents())
def test_any_asap_xml_gives_annotations_or_one_error(document: str) -> None:
    _survives("any_asap.xml", document.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(imagescope_documents())
@example(  # two vertices on one spot: a zero-length "line" (invalid) becomes a point
    '<Annotations MicronsPerPixel="0"><Annotation Id="0" Name="" LineColor="0"><Regions>'
    '<Region Id="0" Type="0" NegativeROA="0" Text=""><Vertices><Vertex X="0" Y="0"/>'
    '<Vertex X="0" Y="0"/></Vertices></Region></Regions></Annotation></Annotations>'
)
def test_any_imagescope_xml_gives_annotations_or_one_error(document: str) -> None:
    _survives("any_imagescope.xml", document.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(
    st.sampled_from([b"{", b"[", b"<ASAP_Annotations>", b"<Annotations>", b'{"elements":']),
    st.binary(max_size=200),
)
def test_any_bytes_after_a_known_start_give_annotations_or_one_error(
    start: bytes, tail: bytes
) -> None:
    _survives("bytes.dat", start + tail)


polygon_coords = st.lists(
    st.tuples(
        st.floats(-50, 150, allow_nan=False, allow_infinity=False),
        st.floats(-50, 150, allow_nan=False, allow_infinity=False),
    ),
    min_size=3,
    max_size=9,
)


@SETTINGS
@given(st.lists(polygon_coords, min_size=1, max_size=5), st.sampled_from(["clip", "keep"]))
def test_validated_geometry_is_valid_with_area_and_inside_when_clipped(
    rings: list[list[tuple[float, float]]], outside: str
) -> None:
    objects = [Annotation(shapely.Polygon(r)) for r in rings]
    bounds = SlideBounds(100, 100)
    checked = check_annotations("<test>", objects, bounds, outside)
    kept = len(checked.annotations)
    assert kept + checked.degenerate + checked.dropped_outside == len(objects)
    for a in checked.annotations:
        assert a.geometry.is_valid and not a.geometry.is_empty and a.geometry.area > 0
        assert a.geometry.geom_type in ("Polygon", "MultiPolygon")
        if outside == "clip":  # (GEOS may keep a vertex 1e-240 outside)
            assert shapely.covers(bounds.box().buffer(1e-9), a.geometry)


@SETTINGS
@given(polygon_coords)
def test_rle_of_any_valid_polygon_is_its_pixel_centre_mask(coords) -> None:
    geometry = shapely.make_valid(shapely.Polygon(coords))
    parts = [g for g in getattr(geometry, "geoms", [geometry]) if g.geom_type == "Polygon"]
    if not parts:
        return
    geometry = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    runs = runs_of_polygon(geometry, 40, 30)
    rows, cols = np.mgrid[0:40, 0:30]
    # Pixel centres exactly on an edge may go either way; compare away from the boundary.
    centres = shapely.points(cols + 0.5, rows + 0.5)
    inside = shapely.contains(geometry, centres)
    near = shapely.distance(geometry.boundary, centres) < 1e-9
    flat = np.zeros(40 * 30, dtype=bool)
    for start, end in zip(runs.starts, runs.ends, strict=True):
        flat[start:end] = True
    ours = flat.reshape(30, 40).T
    assert np.array_equal(ours[~near], inside[~near])
    assert runs.area == int(ours.sum())
