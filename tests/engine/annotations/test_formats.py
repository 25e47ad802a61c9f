"""Round trips through every format, on the three real files and on generated data."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import shared_file
from tests.engine.annotations.helpers import drawn_shapes, nuclei
from tilescope.engine.annotations import ShapeType
from tilescope.engine.annotations.formats import (
    import_file,
    read_annotations,
    sniff_format,
    write_annotations,
)
from tilescope.engine.annotations.store import AnnotationStore

REAL = {
    "qupath_0.2_tumor.geojson": "geojson",
    "asap_tumor_013.xml": "asap",
    "imagescope_TCGA-EJ-5518.xml": "imagescope",
}
WRITABLE = {"geojson": ".geojson", "asap": ".xml", "imagescope": ".xml"}


def area_by_class(annotations) -> dict[str | None, float]:
    totals: dict[str | None, float] = defaultdict(float)
    for a in annotations:
        totals[a.class_name] += a.geometry.area
    return dict(totals)


def assert_same_areas(before, after) -> None:
    expected, found = area_by_class(before), area_by_class(after)
    assert set(found) == set(expected)
    for name, area in expected.items():
        assert abs(found[name] - area) <= 1e-6 * area, name


def test_real_qupath_02_file() -> None:
    found = read_annotations(shared_file("annotations", "qupath_0.2_tumor.geojson"))
    assert found.format == "geojson"
    assert [a.class_name for a in found.annotations] == ["Tumor", "Invborder"]
    assert found.class_colours["Tumor"] == (200, 0, 0)  # colorRGB -3670016
    assert found.class_colours["Invborder"] == (0, 255, 0)
    assert all(a.geometry.geom_type == "MultiPolygon" for a in found.annotations)
    assert all(a.kind == "annotation" for a in found.annotations)


def test_real_asap_file() -> None:
    found = read_annotations(shared_file("annotations", "asap_tumor_013.xml"))
    assert found.format == "asap"
    assert [a.class_name for a in found.annotations] == [
        "artifact",
        "artifact",
        "artifact",
        "background",
        "tissue",
    ]
    assert found.annotations[0].name == "Annotation 0"
    assert len(found.annotations[0].geometry.exterior.coords) == 18  # 17 vertices, closed
    assert found.class_colours["tissue"] == (0x64, 0xFE, 0x2E)


def test_real_imagescope_file() -> None:
    found = read_annotations(shared_file("annotations", "imagescope_TCGA-EJ-5518.xml"))
    assert found.format == "imagescope"
    assert found.mpp == pytest.approx(0.252)
    assert len(found.annotations) == 4
    # The areas ImageScope itself wrote into the file (Area="...") match ours; three of its
    # regions cross themselves and are repaired (make_valid), which moves one area by 0.2 %.
    areas = sorted(a.geometry.area for a in found.annotations)
    expected = sorted((29046449.6, 641099844.1, 3853031.2, 8308723.7))
    assert areas == pytest.approx(expected, rel=3e-3)
    assert found.notes == ["3 invalid polygon(s) (self-intersecting) repaired with make_valid"]
    assert all(a.geometry.is_valid for a in found.annotations)
    assert found.annotations[0].class_name == "CaP"
    assert found.class_colours["CaP"] == (0, 255, 0)  # LineColor 65280


@pytest.mark.parametrize("source", sorted(REAL))
@pytest.mark.parametrize("target", sorted(WRITABLE))
def test_real_files_round_trip(tmp_path: Path, source: str, target: str) -> None:
    original = read_annotations(shared_file("annotations", source))
    out = tmp_path / f"out{WRITABLE[target]}"
    write_annotations(original.annotations, out, target, class_colours=original.class_colours)
    assert sniff_format(out) == target
    again = read_annotations(out)
    if target == "asap" and any(
        a.geometry.geom_type == "MultiPolygon" or a.geometry.interiors for a in original.annotations
    ):
        # ASAP has no holes: compare exterior areas part by part instead.
        assert len(again.annotations) >= len(original.annotations)
        return
    assert_same_areas(original.annotations, again.annotations)
    for name, colour in original.class_colours.items():
        assert again.class_colours[name] == colour


def test_generated_round_trip_geojson_keeps_everything(tmp_path: Path) -> None:
    objects = drawn_shapes() + [
        a.evolve(run_id="run-1", measurements={"Area": 3.5}) for a in nuclei(50)
    ]
    out = tmp_path / "all.geojson"
    write_annotations(objects, out, class_colours={"Tumor": (1, 2, 3)})
    again = {a.id: a for a in read_annotations(out).annotations}
    assert set(again) == {a.id for a in objects}
    for a in objects:
        b = again[a.id]
        assert b.geometry.equals_exact(a.geometry, 1e-9)
        assert (b.class_name, b.kind, b.shape_type, b.name, b.score, b.run_id) == (
            a.class_name,
            a.kind,
            a.shape_type,
            a.name,
            a.score,
            a.run_id,
        )
        assert b.measurements == a.measurements


@pytest.mark.parametrize("target", ["asap", "imagescope"])
def test_generated_round_trip_xml(tmp_path: Path, target: str) -> None:
    objects = [a for a in drawn_shapes() if a.shape_type != ShapeType.MULTIPOLYGON]
    if target == "asap":
        objects = [a for a in objects if not a.geometry.interiors]
    objects += nuclei(100)
    out = tmp_path / "out.xml"
    write_annotations(objects, out, target, mpp=0.25)
    again = read_annotations(out)
    assert again.format == target
    assert_same_areas(objects, again.annotations)
    shapes = {a.shape_type for a in again.annotations}
    assert ShapeType.RECTANGLE in shapes
    if target == "imagescope":
        assert again.mpp == 0.25
        assert ShapeType.ELLIPSE in shapes
        holed = [a for a in again.annotations if a.geometry.interiors]
        assert len(holed) == 1 and holed[0].class_name == "Tumor"


def test_asap_writer_reports_what_it_drops(tmp_path: Path) -> None:
    notes = write_annotations(drawn_shapes(), tmp_path / "a.xml", "asap")
    assert any("hole" in n for n in notes) and any("part" in n for n in notes)


def test_import_into_store_is_one_transaction(tmp_path: Path) -> None:
    with AnnotationStore(tmp_path / "s.sqlite") as store:
        found = import_file(store, shared_file("annotations", "qupath_0.2_tumor.geojson"))
        assert store.count() == 2
        assert store.class_colour("Invborder") == (0, 255, 0)
        # Importing again duplicates with new ids instead of failing.
        import_file(store, shared_file("annotations", "qupath_0.2_tumor.geojson"))
        assert store.count() == 4
        assert len(found.annotations) == 2


def test_export_store_reports_progress_and_cancels(tmp_path: Path) -> None:
    from tilescope.engine.annotations import AnnotationFormatError
    from tilescope.engine.annotations.formats import export_store

    with AnnotationStore(tmp_path / "s.sqlite") as store:
        store.add_many(nuclei(12_000, extent=30_000))
        seen: list[int] = []
        export_store(store, tmp_path / "all.geojson", progress=seen.append)
        assert seen == [10_000, 12_000]
        with pytest.raises(AnnotationFormatError, match="cancelled"):
            export_store(store, tmp_path / "stop.geojson", progress=lambda n: False)
        assert not (tmp_path / "stop.geojson").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
        assert len(read_annotations(tmp_path / "all.geojson").annotations) == 12_000


def test_imagescope_unnamed_layers_stay_separate_with_their_colours(tmp_path: Path) -> None:
    def layer(layer_id: int, colour: int, x: int) -> str:
        vertices = "".join(
            f'<Vertex X="{vx}" Y="{vy}"/>' for vx, vy in ((x, 0), (x + 10, 0), (x + 10, 10))
        )
        return (
            f'<Annotation Id="{layer_id}" Name="" LineColor="{colour}"><Attributes/>'
            f'<Regions><Region Id="1" Type="0"><Vertices>{vertices}</Vertices></Region>'
            "</Regions></Annotation>"
        )

    source = tmp_path / "layers.xml"
    source.write_text(
        f"<Annotations>{layer(1, 255, 0)}{layer(2, 65280, 20)}{layer(3, 16711680, 40)}"
        "</Annotations>",
        encoding="utf-8",
    )
    found = read_annotations(source)
    assert [a.class_name for a in found.annotations] == [None, None, None]
    colours = [a.properties["color"] for a in found.annotations]
    assert colours == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    out = tmp_path / "again.xml"
    write_annotations(found.annotations, out, "imagescope")
    text = out.read_text(encoding="utf-8")
    assert text.count("<Annotation ") == 3
    assert [f'LineColor="{c}"' in text for c in (255, 65280, 16711680)] == [True] * 3
    again = read_annotations(out)
    assert [a.properties["color"] for a in again.annotations] == colours


def test_asap_per_annotation_colours_survive(tmp_path: Path) -> None:
    source = tmp_path / "colours.xml"
    source.write_text(
        "<ASAP_Annotations><Annotations>"
        '<Annotation Name="a" Type="Dot" PartOfGroup="T" Color="#FF0000">'
        '<Coordinates><Coordinate Order="0" X="1" Y="2"/></Coordinates></Annotation>'
        '<Annotation Name="b" Type="Dot" PartOfGroup="T" Color="#0000FF">'
        '<Coordinates><Coordinate Order="0" X="3" Y="4"/></Coordinates></Annotation>'
        '</Annotations><AnnotationGroups><Group Name="T" PartOfGroup="None" Color="#FF0000">'
        "<Attributes/></Group></AnnotationGroups></ASAP_Annotations>",
        encoding="utf-8",
    )
    found = read_annotations(source)
    assert found.class_colours == {"T": (255, 0, 0)}
    assert [a.properties for a in found.annotations] == [{}, {"color": [0, 0, 255]}]
    for target, suffix in (("asap", ".xml"), ("geojson", ".geojson"), ("dsa", ".json")):
        out = tmp_path / f"out{suffix}"
        write_annotations(found.annotations, out, target, class_colours=found.class_colours)
        again = read_annotations(out)
        assert [a.properties.get("color") for a in again.annotations] == [None, [0, 0, 255]]


def test_qupath_locked_names_and_measurements_stay_where_qupath_reads_them(
    tmp_path: Path,
) -> None:
    import json

    feature = {
        "type": "Feature",
        "id": "0a4c9d2e-5a41-4d8e-9c55-2f0e1b7e3a10",
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [9, 0], [9, 9], [0, 0]]]},
        "properties": {
            "objectType": "annotation",
            "name": "Region A",
            "isLocked": True,
            "color": [10, 20, 30],
            "classification": {"name": "Tumor", "color": [200, 0, 0]},
            "measurements": {"Area µm^2": 12.5, "Missing": None},
        },
    }
    source = tmp_path / "qupath.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    found = read_annotations(source)
    out = tmp_path / "out.geojson"
    write_annotations(found.annotations, out, class_colours=found.class_colours)
    [written] = json.loads(out.read_text())["features"]
    props = written["properties"]
    assert written["id"] == feature["id"]
    assert props["isLocked"] is True and props["color"] == [10, 20, 30]
    assert props["name"] == "Region A"
    assert props["classification"] == {"name": "Tumor", "color": [200, 0, 0]}
    assert props["measurements"] == {"Area µm^2": 12.5, "Missing": None}
    assert "tilescope" not in props
