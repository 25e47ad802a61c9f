"""Malformed, huge and hostile files are refused with a message naming file and problem."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.engine.annotations.helpers import drawn_shapes
from tilescope.engine.annotations import AnnotationFormatError
from tilescope.engine.annotations.formats import Limits, import_file, read_annotations
from tilescope.engine.annotations.store import AnnotationStore

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<ASAP_Annotations><Annotations><Annotation Name="&lol9;" Type="Dot" PartOfGroup="None">
<Coordinates><Coordinate Order="0" X="1" Y="2"/></Coordinates></Annotation></Annotations>
</ASAP_Annotations>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Annotations MicronsPerPixel="0.25"><Annotation Id="1" Name="&xxe;"><Regions>
<Region Id="1" Type="0"><Vertices><Vertex X="0" Y="0"/><Vertex X="5" Y="0"/>
<Vertex X="5" Y="5"/></Vertices></Region></Regions></Annotation></Annotations>
"""


def feature(geometry: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": {}}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path, match: str, **kwargs) -> AnnotationFormatError:
    with pytest.raises(AnnotationFormatError, match=match) as info:
        read_annotations(path, **kwargs)
    assert str(path) in str(info.value)
    return info.value


def test_billion_laughs_is_refused_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    refused(write(tmp_path, "laughs.xml", BILLION_LAUGHS), "entit")
    assert time.perf_counter() - start < 5


def test_external_entity_is_refused(tmp_path: Path) -> None:
    error = refused(write(tmp_path, "xxe.xml", EXTERNAL_ENTITY), "entit")
    assert "root:" not in str(error)


def test_truncated_json_names_line_and_column(tmp_path: Path) -> None:
    text = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [feature({"type": "Point", "coordinates": [1, 2]})],
        },
        indent=1,
    )
    refused(write(tmp_path, "cut.geojson", text[: len(text) // 2]), r"line \d+ column \d+")


def test_wrong_geometry_types(tmp_path: Path) -> None:
    doc = [
        feature({"type": "Point", "coordinates": [1, 2]}),
        feature({"type": "Circle", "coordinates": [1, 2]}),
    ]
    refused(write(tmp_path, "circle.json", json.dumps(doc)), r"feature 1: unsupported .*'Circle'")
    doc = [feature({"type": "Polygon", "coordinates": [[1, 2], [3, 4]]})]
    refused(write(tmp_path, "flat.json", json.dumps(doc)), "feature 0")
    refused(write(tmp_path, "text.json", '{"type": "Topology"}'), "not GeoJSON")
    refused(write(tmp_path, "nogeom.json", json.dumps([{"type": "Feature"}])), "no geometry")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_coordinates(tmp_path: Path, value: str) -> None:
    text = '[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[' + value
    text += ',1],[1,1],[0,0]]]},"properties":{}}]'
    refused(write(tmp_path, "nan.json", text), "finite")


def test_non_finite_xml_coordinates(tmp_path: Path) -> None:
    text = (
        '<ASAP_Annotations><Annotations><Annotation Name="a" Type="Polygon" '
        'PartOfGroup="None"><Coordinates><Coordinate Order="0" X="nan" Y="0"/>'
        '<Coordinate Order="1" X="1" Y="0"/><Coordinate Order="2" X="1" Y="1"/>'
        "</Coordinates></Annotation></Annotations></ASAP_Annotations>"
    )
    refused(write(tmp_path, "nan.xml", text), "finite")
    refused(write(tmp_path, "bad.xml", text.replace('X="nan"', 'X="abc"')), "not a number")


def test_ten_million_vertex_polygon_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as out:
        out.write(b'[{"type":"Feature","properties":{},"geometry":{"type":"Polygon",')
        out.write(b'"coordinates":[[' + b"[0,0]," * 10_000_000 + b"[0,0]]]}}]")
    start = time.perf_counter()
    refused(path, "10,000,001 vertices")
    assert time.perf_counter() - start < 20


def test_xml_vertex_limit_streams(tmp_path: Path) -> None:
    vertices = "".join(f'<Vertex X="{i}" Y="{i % 7}"/>' for i in range(2000))
    text = (
        f'<Annotations><Annotation Id="1"><Regions><Region Id="1" Type="0"><Vertices>'
        f"{vertices}</Vertices></Region></Regions></Annotation></Annotations>"
    )
    refused(
        write(tmp_path, "many.xml", text),
        "more than 1,000 vertices",
        limits=Limits(max_vertices_per_geometry=1000),
    )


def test_malformed_and_unknown_files(tmp_path: Path) -> None:
    refused(write(tmp_path, "broken.xml", "<Annotations><Annotation>"), r"line \d+ column \d+")
    refused(write(tmp_path, "empty.json", ""), "empty")
    refused(write(tmp_path, "hello.txt", "hello"), "not a known annotation format")
    refused(tmp_path / "missing.json", "cannot read")
    (tmp_path / "binary.json").write_bytes(b"[\xff\xfe]")
    refused(tmp_path / "binary.json", "UTF-8")
    refused(
        write(
            tmp_path,
            "bad.xml",
            "<ASAP_Annotations><Annotations><Annotation Type='Blob'>"
            "<Coordinates><Coordinate X='1' Y='1'/></Coordinates></Annotation>"
            "</Annotations></ASAP_Annotations>",
        ),
        "unsupported annotation Type 'Blob'",
    )


def test_failed_import_touches_nothing(tmp_path: Path) -> None:
    good = [feature({"type": "Polygon", "coordinates": [[[0, 0], [9, 0], [9, 9], [0, 0]]]})]
    bad = good * 50 + [feature({"type": "Polygon", "coordinates": [[[0, 0], ["x", 0]]]})]
    with AnnotationStore(tmp_path / "s.sqlite") as store:
        store.add_many(drawn_shapes())
        before = store.version
        with pytest.raises(AnnotationFormatError, match="feature 50"):
            import_file(store, write(tmp_path, "bad.json", json.dumps(bad)))
        assert store.count() == 5 and store.version == before
