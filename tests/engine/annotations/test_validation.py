"""Values from files are checked once: hostile ones refused in one line, invalid polygons
repaired and counted, objects outside the slide clipped/refused/kept, exports safe."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import shapely

from tilescope.engine.annotations import Annotation, AnnotationFormatError, ShapeType
from tilescope.engine.annotations.formats import import_file, read_annotations, write_annotations
from tilescope.engine.annotations.store import AnnotationStore

BOW_TIE = [[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]


def feature(geometry: dict, **properties: object) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def collection(*features: dict) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


HOSTILE = {
    "asap_order.xml": (
        '<ASAP_Annotations><Annotations><Annotation Name="a" Type="Polygon" PartOfGroup="None">'
        '<Coordinates><Coordinate Order="zero" X="1" Y="1"/><Coordinate Order="1" X="5" Y="1"/>'
        '<Coordinate Order="2" X="5" Y="5"/></Coordinates></Annotation></Annotations>'
        "</ASAP_Annotations>",
        "Order='zero' is not a number",
    ),
    "properties.geojson": (
        json.dumps(
            feature({"type": "Point", "coordinates": [1, 2]}, tilescope={"properties": "abc"})
        ),
        "'tilescope.properties' must be an object",
    ),
    "empty_multipolygon.geojson": (
        json.dumps(feature({"type": "MultiPolygon", "coordinates": []})),
        "MultiPolygon without any polygon",
    ),
    "surrogate.geojson": (
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},'
        '"properties":{"classification":{"name":"a\\ud800b"}}}',
        "lone surrogate",
    ),
    "digits_400.geojson": (
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[1' + "0" * 400 + ",2]}}",
        "too large",
    ),
    "digits_5000.geojson": (
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[1' + "0" * 5000 + ",2]}}",
        "too many digits",
    ),
    "infinity.geojson": (
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[Infinity,2]}}',
        "finite",
    ),
    "far.geojson": (
        json.dumps(feature({"type": "Point", "coordinates": [1e15, 2]})),
        "beyond",
    ),
    "measurement_rid.geojson": (
        json.dumps(feature({"type": "Point", "coordinates": [1, 2]}, measurements={"rid": 1})),
        "measurement name 'rid' is not usable",
    ),
    "long_name.geojson": (
        json.dumps(feature({"type": "Point", "coordinates": [1, 2]}, name="x" * 5000)),
        "more than the limit",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_values_are_one_line_naming_the_file(tmp_path: Path, name: str) -> None:
    text, problem = HOSTILE[name]
    path = write(tmp_path, name, text)
    with pytest.raises(AnnotationFormatError, match=problem) as info:
        read_annotations(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message


def test_bow_tie_with_a_negative_region_is_repaired(tmp_path: Path) -> None:
    # A self-intersecting ImageScope region with a NegativeROA hole used to raise GEOSException.
    vertices = "".join(f'<Vertex X="{x}" Y="{y}"/>' for x, y in BOW_TIE[:-1])
    hole = '<Vertex X="1" Y="4"/><Vertex X="2" Y="4"/><Vertex X="2" Y="6"/>'
    path = write(
        tmp_path,
        "bowtie.xml",
        '<Annotations><Annotation Id="1" Name="T"><Regions>'
        f'<Region Id="1" Type="0"><Vertices>{vertices}</Vertices></Region>'
        f'<Region Id="2" Type="0" NegativeROA="1"><Vertices>{hole}</Vertices></Region>'
        "</Regions></Annotation></Annotations>",
    )
    found = read_annotations(path)
    [a] = found.annotations
    assert a.geometry.is_valid and a.shape_type == ShapeType.MULTIPOLYGON
    assert a.geometry.area == pytest.approx(50 - 1)  # two triangles of 25, minus the hole
    assert found.notes == ["1 invalid polygon(s) (self-intersecting) repaired with make_valid"]


def test_invalid_polygons_repaired_and_counted_never_area_zero(tmp_path: Path) -> None:
    flat = [[0, 0], [5, 0], [10, 0], [0, 0]]  # no area at all: left out, and said so
    path = write(
        tmp_path,
        "invalid.geojson",
        collection(
            feature({"type": "Polygon", "coordinates": [BOW_TIE]}),
            feature({"type": "Polygon", "coordinates": [BOW_TIE]}),
            feature({"type": "Polygon", "coordinates": [flat]}),
            feature({"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 0]]]}),
        ),
    )
    found = read_annotations(path)
    assert [round(a.geometry.area, 6) for a in found.annotations] == [50, 50, 8]
    assert all(a.geometry.is_valid for a in found.annotations)
    assert found.notes == [
        "3 invalid polygon(s) (self-intersecting) repaired with make_valid; "
        "1 without any area left out"
    ]


def test_objects_outside_the_slide_clipped_refused_or_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "other_slide.geojson",
        collection(
            feature(
                {"type": "Polygon", "coordinates": [[[90, 90], [110, 90], [110, 110], [90, 90]]]}
            ),
            feature({"type": "Point", "coordinates": [5000, 5000]}),
            feature({"type": "Point", "coordinates": [50, 50]}),
        ),
    )
    clipped = read_annotations(path, bounds=(100, 100))
    assert len(clipped.annotations) == 2
    assert clipped.annotations[0].geometry.bounds == (90, 90, 100, 100)
    assert clipped.notes == ["2 object(s) outside the 100 x 100 slide: 1 clipped, 1 left out"]
    with pytest.raises(AnnotationFormatError, match=r"2 object.*outside the 100 x 100 slide"):
        read_annotations(path, bounds=(100, 100), outside="refuse")
    kept = read_annotations(path, bounds=(100, 100), outside="keep")
    assert len(kept.annotations) == 3 and kept.notes == []
    with AnnotationStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(AnnotationFormatError):
            import_file(store, path, bounds=(100, 100), outside="refuse")
        assert store.count() == 0


def test_csv_cells_are_never_formulas_and_numbers_stay_numbers(tmp_path: Path) -> None:
    hostile = ["=cmd|' /C calc'!A0", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    objects = [
        Annotation(shapely.box(-10, -20, -5, -15), name=text, class_name=text) for text in hostile
    ]
    objects.append(Annotation(shapely.box(0, 0, 1, 1), name="plain", measurements={"d": -3.5}))
    out = tmp_path / "t.csv"
    write_annotations(objects, out)
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row, text in zip(rows, hostile, strict=False):
        assert row["name"] == "'" + text and row["class"] == "'" + text
        assert float(row["centroid_x_px"]) == -7.5  # a negative number, unquoted
    assert rows[-1]["d"] == "-3.5" and rows[-1]["name"] == "plain"
    raw = out.read_text(encoding="utf-8")
    assert "\n=cmd" not in raw and ",=cmd" not in raw and ",-7.5," in raw


def test_geojson_export_with_nan_and_infinity_writes_null(tmp_path: Path) -> None:
    objects = [
        Annotation(
            shapely.box(0, 0, 4, 4),
            score=float("nan"),
            properties={"x": float("nan"), "nested": [float("inf"), 1.5]},
            measurements={"m": float("-inf")},
        ),
        Annotation(shapely.Point(float("nan"), 3)),
    ]
    out = tmp_path / "nan.geojson"
    notes = write_annotations(objects, out)
    assert notes == ["1 object(s) with non-finite coordinates left out"]
    document = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(c))
    [feature_] = document["features"]
    props = feature_["properties"]
    assert props["measurements"] == {"m": None}
    assert props["tilescope"]["properties"] == {"x": None, "nested": [None, 1.5]}
    assert "score" not in props["tilescope"]


def test_nan_properties_from_a_file_become_null(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nan_props.geojson",
        '{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},'
        '"properties":{"v":NaN,"classification":{"name":"T\\u0007x"}}}',
    )
    [a] = read_annotations(path).annotations
    assert a.properties == {"v": None}
    assert a.class_name == "T x"  # control characters become spaces


def test_geojson_export_of_a_store_with_a_nan_property(tmp_path: Path) -> None:
    from tilescope.engine.annotations.formats import export_store

    with AnnotationStore(tmp_path / "s.sqlite") as store:
        store.add(Annotation(shapely.box(0, 0, 2, 2), properties={"ratio": float("nan")}))
        store.add(Annotation(shapely.box(5, 5, 9, 9), score=0.5))
        out = tmp_path / "store.geojson"
        export_store(store, out)
    text = out.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    features = json.loads(text)["features"]
    assert len(features) == 2
    assert features[0]["properties"]["tilescope"]["properties"] == {"ratio": None}
