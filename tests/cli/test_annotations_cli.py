"""`tilescope annotations convert|stats` end to end, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_file
from tilescope.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def test_stats_on_imagescope_uses_its_pixel_size(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_file("annotations", "imagescope_TCGA-EJ-5518.xml")
    assert main(["annotations", "stats", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "imagescope" and summary["objects"] == 4
    cap = summary["classes"]["CaP"]
    assert cap["count"] == 2
    # ImageScope's own AreaMicrons values for the two CaP regions.
    assert cap["area_um2"] == pytest.approx(1844565.8 + 40712405.8, rel=1e-4)


def test_stats_text_and_mpp_option(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_file("annotations", "asap_tumor_013.xml")
    assert main(["annotations", "stats", str(path), "--mpp", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "5 objects" in out and "um^2" in out and "artifact" in out


@pytest.mark.parametrize(
    ("name", "extension", "expected"),
    [
        ("out.geojson", None, "geojson"),
        ("out.xml", None, "asap"),
        ("out.csv", None, None),
        ("scope.xml", "imagescope", "imagescope"),
    ],
)
def test_convert(tmp_path: Path, capsys, name: str, extension: str | None, expected) -> None:
    source = shared_file("annotations", "qupath_0.2_tumor.geojson")
    out = tmp_path / name
    argv = ["annotations", "convert", str(source), str(out)]
    if extension:
        argv += ["--to", extension]
    assert main(argv) == 0
    assert out.exists()
    if expected:
        assert main(["annotations", "stats", str(out), "--json"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert json.loads(lines[-1])["format"] == expected
    else:
        header = out.read_text(encoding="utf-8").splitlines()[0]
        assert header.startswith("id,name,class")


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "cut.geojson"
    bad.write_text('[{"type": "Feature", "geometry": {"type": "Polygon"', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "tilescope", "annotations", "stats", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert str(bad) in result.stderr and "truncated JSON" in result.stderr


def test_unknown_output_extension(tmp_path: Path, capsys) -> None:
    source = shared_file("annotations", "asap_tumor_013.xml")
    assert main(["annotations", "convert", str(source), str(tmp_path / "out.bin")]) == 2
    assert "--to" in capsys.readouterr().err


def test_convert_to_coco_labels_and_dsa_with_a_slide(tmp_path: Path, capsys, cmu_small_svs) -> None:
    source = tmp_path / "near.geojson"
    source.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[10, 10], [60, 10], [60, 60], [10, 60], [10, 10]]],
                        },
                        "properties": {"classification": {"name": "Tumor"}},
                    },
                    {  # half outside the 2220 x 2967 slide: clipped
                        "type": "Feature",
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[2200, 0], [2300, 0], [2300, 40], [2200, 0]]],
                        },
                        "properties": {},
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    slide = ["--slide", str(cmu_small_svs)]
    coco = tmp_path / "c.json"
    assert main(["annotations", "convert", str(source), str(coco), "--to", "coco", *slide]) == 0
    captured = capsys.readouterr()
    assert "1 clipped" in captured.err
    document = json.loads(coco.read_text())
    assert (document["images"][0]["width"], document["images"][0]["height"]) == (2220, 2967)
    assert document["images"][0]["file_name"] == "CMU-1-Small-Region.svs"
    assert document["annotations"][0]["area"] == 2500
    mask_path = tmp_path / "m.tif"
    argv = ["annotations", "convert", str(source), str(mask_path), "--labels", "class"]
    assert main([*argv, "--downsample", "4", *slide]) == 0
    import tifffile

    with tifffile.TiffFile(mask_path) as tif:
        assert tif.pages[0].shape == (742, 555)
        numerator, denominator = tif.pages[0].tags["XResolution"].value
        assert numerator / denominator == pytest.approx(1e4 / (0.499 * 4), rel=1e-3)
    assert (
        main(["annotations", "convert", str(source), str(tmp_path / "d.json"), "--to", "dsa"]) == 0
    )
    assert main(["annotations", "stats", str(tmp_path / "d.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["format"] == "dsa"
    refused = ["annotations", "convert", str(source), str(tmp_path / "r.json"), *slide]
    assert main([*refused, "--outside", "refuse"]) == 2
    assert "outside the 2220 x 2967 slide" in capsys.readouterr().err


def test_a_slide_as_input_exports_its_store(tmp_path: Path, capsys, cmu_small_svs) -> None:
    import shapely

    from tilescope.engine.annotations import Annotation, ObjectKind
    from tilescope.engine.annotations.store import AnnotationStore

    with AnnotationStore.for_slide(cmu_small_svs) as store:
        store.add(Annotation(shapely.box(0, 0, 10, 10), class_name="Tumor"))
        run = store.add_run("model-a").run_id
        cells = [
            Annotation(
                shapely.box(100 + 50 * c, 100 + 20 * r, 150 + 50 * c, 120 + 20 * r),
                class_name="Cell",
                kind=ObjectKind.DETECTION,
                properties={"table": 1, "row": r, "col": c, "row_span": 1, "col_span": 1},
                run_id=run,
            )
            for r in range(2)
            for c in range(3)
        ]
        store.add_many(cells)
    out = tmp_path / "all.geojson"
    assert main(["annotations", "convert", str(cmu_small_svs), str(out)]) == 0
    assert "7 objects written as geojson" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["features"]) == 7
    one = tmp_path / "run.geojson"
    assert main(["annotations", "convert", str(cmu_small_svs), str(one), "--run", run]) == 0
    assert len(json.loads(one.read_text())["features"]) == 6
    assert main(["annotations", "convert", str(cmu_small_svs), str(one), "--run", "nope"]) == 2
    assert "no such run" in capsys.readouterr().err
    tables = tmp_path / "tables"
    assert main(["annotations", "convert", str(cmu_small_svs), str(tables), "--to", "tables"]) == 0
    csv_text = (tables / "CMU-1-Small-Region.table-1.csv").read_text()
    assert csv_text.splitlines() == [",,", ",,"]
    assert "<table>" in (tables / "CMU-1-Small-Region.table-1.html").read_text()


def test_hostile_annotation_files_are_one_line_exit_2(tmp_path: Path, capsys) -> None:
    from tests.engine.annotations.test_validation import HOSTILE

    for name, (text, problem) in sorted(HOSTILE.items()):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        for argv in (["stats", str(path)], ["convert", str(path), str(tmp_path / "o.json")]):
            assert main(["annotations", *argv]) == 2, name
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and str(path) in err, name
            assert problem.split("(")[0].strip("'") in err, name
            assert "Traceback" not in err
    assert not (tmp_path / "o.json").exists()


def test_convert_a_slide_scene_exports_that_scenes_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each page of a multi-page document keeps its own objects; --scene picks the page."""
    import numpy as np
    import shapely
    import tifffile

    from tilescope.engine.annotations import Annotation
    from tilescope.engine.annotations.store import AnnotationStore

    document = tmp_path / "letter.tif"
    with tifffile.TiffWriter(document) as tif:
        for seed, (height, width) in enumerate([(300, 400), (500, 200)]):
            page = np.random.default_rng(seed).integers(0, 255, (height, width, 3), np.uint8)
            tif.write(page, photometric="rgb")
    with AnnotationStore.for_slide(document, scene=1) as store:
        store.add(Annotation(shapely.box(10, 10, 60, 90), class_name="Table"))
        store.add(Annotation(shapely.box(100, 300, 190, 480), class_name="Table"))

    out = tmp_path / "page1.geojson"
    assert main(["annotations", "convert", str(document), str(out), "--scene", "1"]) == 0
    assert "2 objects written" in capsys.readouterr().out
    features = json.loads(out.read_text())["features"]
    assert len(features) == 2  # the second box lies outside page 0 (400 x 300) but inside page 1
    assert main(["annotations", "convert", str(document), str(tmp_path / "p0.geojson")]) == 2
    assert "no annotations are stored for this slide" in capsys.readouterr().err
