"""COCO (checked with pycocotools), label masks (tifffile, zarr) and DSA JSON, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
import tifffile
import zarr
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from tests.conftest import shared_file
from tilescope.engine.annotations import Annotation, ShapeType
from tilescope.engine.annotations.formats import (
    ExportOptions,
    export_store,
    read_annotations,
    sniff_format,
    write_annotations,
)
from tilescope.engine.annotations.formats.export import export_annotations
from tilescope.engine.annotations.formats.rle import (
    decompress,
    runs_of_mask,
    runs_of_polygon,
)
from tilescope.engine.annotations.store import AnnotationStore

BOW_TIE = shapely.Polygon([(2, 2), (30, 30), (30, 2), (2, 30)])
HOLED = shapely.Polygon(
    [(5, 5), (45, 5), (45, 45), (5, 45)], [[(15.2, 15.1), (35.3, 15.1), (35.3, 34.7)]]
)


def centre_mask(geometry, height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    return shapely.contains_xy(geometry, cols + 0.5, rows + 0.5)


def as_pycoco(segmentation: dict) -> dict:
    return {**segmentation, "counts": segmentation["counts"].encode()}


def test_rle_encoder_matches_pycocotools_on_random_masks() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        height, width = (int(v) for v in rng.integers(1, 48, 2))
        mask = rng.random((height, width)) < rng.random()
        reference = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        runs = runs_of_mask(mask)
        ours = runs.to_coco()
        assert ours["counts"] == reference["counts"].decode()
        assert decompress(ours["counts"]) == runs.counts()
        assert runs.area == coco_mask.area(reference)
        assert runs.bbox() == coco_mask.toBbox(reference).tolist()


def test_polygon_runs_are_the_pixel_centre_mask() -> None:
    rng = np.random.default_rng(3)
    for _ in range(150):
        geometry = shapely.make_valid(shapely.Polygon(rng.uniform(-10, 70, (9, 2))))
        parts = [g for g in getattr(geometry, "geoms", [geometry]) if g.geom_type == "Polygon"]
        geometry = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
        runs = runs_of_polygon(geometry, 60, 50)
        expected = centre_mask(geometry, 60, 50)
        decoded = coco_mask.decode(as_pycoco(runs.to_coco())).astype(bool)
        assert np.array_equal(decoded, expected)


def test_coco_holes_parts_and_self_intersections(tmp_path: Path) -> None:
    objects = [
        Annotation(HOLED, class_name="Tumor"),
        Annotation(BOW_TIE, class_name="Nucleus"),  # used to raise GEOSException
        Annotation(shapely.box(50, 50, 60, 58), ShapeType.RECTANGLE, "Stroma", score=0.5),
        Annotation(shapely.Point(3, 3), class_name="Tumor"),
    ]
    out = tmp_path / "c.json"
    notes = export_annotations(objects, out, "coco")
    assert "1 invalid polygon(s) repaired with make_valid" in notes
    assert any("point/line" in n for n in notes)
    dataset = COCO(str(out))
    image = dataset.loadImgs(1)[0]
    assert (image["width"], image["height"]) == (60, 58)  # from the objects' bounds
    holed, bow_tie, box = dataset.loadAnns(dataset.getAnnIds())
    # The hole stays a hole: RLE, and the area is the mask's (not the outer ring's).
    assert isinstance(holed["segmentation"], dict)
    mask = dataset.annToMask(holed).astype(bool)
    assert np.array_equal(mask, centre_mask(HOLED, 58, 60))
    assert holed["area"] == int(mask.sum()) == pytest.approx(HOLED.area, rel=0.03)
    assert isinstance(bow_tie["segmentation"], dict)  # two triangles: multi-part
    assert bow_tie["area"] == dataset.annToMask(bow_tie).sum() > 0
    assert isinstance(box["segmentation"], list) and len(box["segmentation"][0]) == 8
    assert box["area"] == 80 and box["bbox"] == [50.0, 50.0, 10.0, 8.0] and box["score"] == 0.5
    names = {c["id"]: c["name"] for c in dataset.loadCats(dataset.getCatIds())}
    assert [names[a["category_id"]] for a in (holed, bow_tie, box)] == [
        "Tumor",
        "Nucleus",
        "Stroma",
    ]


def test_coco_of_a_real_imagescope_file_through_pycocotools(tmp_path: Path) -> None:
    found = read_annotations(shared_file("annotations", "imagescope_TCGA-EJ-5518.xml"))
    # Scaled to a 1/128 thumbnail so pycocotools can decode the masks here.
    small = [
        a.evolve(geometry=shapely.affinity.scale(a.geometry, 1 / 128, 1 / 128, origin=(0, 0)))
        for a in found.annotations
    ]
    out = tmp_path / "real.json"
    export_annotations(small, out, "coco", ExportOptions(size=(800, 600)))
    dataset = COCO(str(out))
    anns = dataset.loadAnns(dataset.getAnnIds())
    assert len(anns) == 4
    for ann, obj in zip(anns, small, strict=True):
        mask = dataset.annToMask(ann)
        assert ann["area"] == pytest.approx(int(mask.sum()), rel=0.02)
        assert ann["area"] == pytest.approx(obj.geometry.area, rel=0.05)


def test_label_masks_tiff_with_resolution_and_ngff_zarr(tmp_path: Path) -> None:
    objects = [
        Annotation(shapely.box(0, 0, 40, 40), class_name="Tumor"),
        Annotation(shapely.box(60, 0, 100, 40), class_name="Stroma"),
        Annotation(shapely.box(0, 60, 40, 100), class_name="Tumor"),
    ]
    options = ExportOptions(
        class_colours={"Tumor": (200, 0, 0), "Stroma": (150, 200, 150)},
        mpp=0.5,
        size=(100, 120),
        labels="class",
        downsample=4,
    )
    assert export_annotations(objects, tmp_path / "m.tif", options=options) == []
    with tifffile.TiffFile(tmp_path / "m.tif") as tif:
        page = tif.pages[0]
        mask = page.asarray()
        assert mask.shape == (30, 25) and page.is_tiled
        assert page.tags["ResolutionUnit"].value == 3  # centimetre
        numerator, denominator = page.tags["XResolution"].value
        assert numerator / denominator == pytest.approx(1e4 / 2.0)  # 2 um per mask pixel
    assert set(np.unique(mask)) == {0, 1, 2}
    assert mask[2, 2] == mask[20, 2] == 1 and mask[2, 20] == 2
    export_annotations(objects, tmp_path / "m.zarr", options=options)
    group = zarr.open_group(str(tmp_path / "m.zarr"), mode="r")
    assert np.array_equal(np.asarray(group["0"]), mask)
    multiscale = group.attrs["multiscales"][0]
    assert multiscale["axes"][0]["unit"] == "micrometer"
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == [2.0, 2.0]
    colours = {c["label-value"]: c["rgba"] for c in group.attrs["image-label"]["colors"]}
    assert colours == {1: [200, 0, 0, 255], 2: [150, 200, 150, 255]}
    instances = tmp_path / "i.tif"
    notes = export_annotations(objects, instances, options=ExportOptions(size=(100, 120)))
    assert notes == ["pixel size unknown: the mask has no resolution in micrometres"]
    assert set(np.unique(tifffile.imread(instances))) == {0, 1, 2, 3}


def test_store_exports_coco_and_labels(tmp_path: Path) -> None:
    with AnnotationStore(tmp_path / "s.sqlite") as store:
        store.add_many([Annotation(HOLED, class_name="Tumor"), Annotation(BOW_TIE)])
        export_store(store, tmp_path / "s.json", "coco", options=ExportOptions(size=(64, 64)))
        export_store(store, tmp_path / "s.tif")
    assert len(json.loads((tmp_path / "s.json").read_text())["annotations"]) == 2
    assert tifffile.imread(tmp_path / "s.tif").max() == 2


DSA_DOCUMENT = [
    {
        "annotation": {
            "name": "Tumor",
            "elements": [
                {
                    "type": "polyline",
                    "points": [[0, 0, 0], [100, 0, 0], [100, 100, 0], [0, 100, 0]],
                    "closed": True,
                    "holes": [[[10, 10, 0], [20, 10, 0], [20, 20, 0]]],
                    "lineColor": "rgb(200,0,0)",
                    "label": {"value": "main"},
                },
                {"type": "polyline", "points": [[0, 0, 0], [5, 5, 0]], "closed": False},
                {
                    "type": "rectangle",
                    "center": [50, 50, 0],
                    "width": 20,
                    "height": 10,
                    "rotation": 0,
                    "group": "Stroma",
                    "lineColor": "#00ff00",
                },
                {"type": "point", "center": [3, 4, 0], "group": "Stroma"},
                {"type": "ellipse", "center": [10, 10, 0], "width": 8, "height": 4, "rotation": 0},
                {"type": "circle", "center": [30, 30, 0], "radius": 5, "group": "Immune cells"},
                {
                    "type": "rectangle",
                    "center": [0, 0, 0],
                    "width": 2,
                    "height": 2,
                    "rotation": 0.5,
                    "lineColor": "rgba(0, 0, 255, 1)",
                },
            ],
        }
    }
]


def test_dsa_import_export_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "dsa.json"
    source.write_text(json.dumps(DSA_DOCUMENT), encoding="utf-8")
    assert sniff_format(source) == "dsa"
    found = read_annotations(source)
    shapes = [a.shape_type for a in found.annotations]
    assert shapes == [
        ShapeType.POLYGON,
        ShapeType.LINE,
        ShapeType.RECTANGLE,
        ShapeType.POINT,
        ShapeType.ELLIPSE,
        ShapeType.ELLIPSE,
        ShapeType.POLYGON,  # a rotated rectangle
    ]
    classes = [a.class_name for a in found.annotations]
    assert classes == ["Tumor", "Tumor", "Stroma", "Stroma", "Tumor", "Immune cells", "Tumor"]
    assert found.annotations[0].geometry.area == pytest.approx(100 * 100 - 50)
    assert found.annotations[0].name == "main"
    assert found.annotations[5].geometry.area == pytest.approx(np.pi * 25, rel=0.01)
    assert found.annotations[6].geometry.area == pytest.approx(4)
    assert found.class_colours == {"Tumor": (200, 0, 0), "Stroma": (0, 255, 0)}
    assert found.annotations[6].properties == {"color": [0, 0, 255]}  # its own colour
    out = tmp_path / "out.json"
    write_annotations(found.annotations, out, "dsa", class_colours=found.class_colours)
    again = read_annotations(out)
    assert again.format == "dsa"
    assert [a.class_name for a in again.annotations] == sorted(
        classes, key=["Tumor", "Stroma", "Immune cells"].index
    )
    assert again.class_colours["Tumor"] == (200, 0, 0)
    for a in found.annotations:
        twin = next(b for b in again.annotations if b.geometry.equals_exact(a.geometry, 1e-6))
        assert (twin.shape_type, twin.name, twin.properties) == (a.shape_type, a.name, a.properties)


def test_dsa_unclassified_and_real_file_round_trip(tmp_path: Path) -> None:
    original = read_annotations(shared_file("annotations", "qupath_0.2_tumor.geojson"))
    objects = [*original.annotations, Annotation(shapely.box(0, 0, 3, 3))]
    out = tmp_path / "q.json"
    write_annotations(objects, out, "dsa", class_colours=original.class_colours)
    again = read_annotations(out)
    assert [a.class_name for a in again.annotations][-1] is None
    by_class: dict[str | None, float] = {}
    for a in again.annotations:
        by_class[a.class_name] = by_class.get(a.class_name, 0) + a.geometry.area
    for a in objects:
        assert by_class[a.class_name] == pytest.approx(
            sum(b.geometry.area for b in objects if b.class_name == a.class_name)
        )
    assert again.class_colours == original.class_colours


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"elements": [{"type": "spline", "points": []}]}, "unsupported element type"),
        ({"elements": [{"type": "circle", "center": [1, 2, 0], "radius": -1}]}, "positive size"),
        ({"elements": [{"type": "point", "center": [1e400, 2]}]}, "finite|too large"),
        ({"elements": [{"type": "rectangle", "center": [0, 0], "width": "x"}]}, "not a number"),
        ({"elements": ["no"]}, "not an object"),
    ],
)
def test_dsa_hostile_elements(tmp_path: Path, document: dict, problem: str) -> None:
    from tilescope.engine.annotations import AnnotationFormatError

    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(AnnotationFormatError, match=problem):
        read_annotations(path)


def test_label_zarr_is_an_ngff_image_label_for_ome_zarr_models(tmp_path: Path) -> None:
    models = pytest.importorskip("ome_zarr_models.v04.image_label", reason="ome-zarr-models")
    objects = [Annotation(shapely.box(0, 0, 40, 40), class_name="Tumor")]
    options = ExportOptions(
        class_colours={"Tumor": (200, 0, 0)}, mpp=0.25, size=(64, 64), labels="class"
    )
    export_annotations(objects, tmp_path / "l.zarr", options=options)
    label = models.ImageLabel.from_zarr(zarr.open_group(str(tmp_path / "l.zarr"), mode="r"))
    assert label.attributes.image_label.colors[0].rgba == (200, 0, 0, 255)
