"""`tilescope measure` and `tilescope classify` end to end on a real tile and its nuclei."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

from tests.conftest import shared_file
from tests.engine.analysis.real_data import miccai
from tilescope.cli.main import main
from tilescope.engine.analysis.classifier import ObjectClassifier
from tilescope.engine.annotations import Annotation, ObjectKind, ShapeType
from tilescope.engine.annotations.formats import write_annotations
from tilescope.engine.annotations.store import AnnotationStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def nuclei_files(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """(slide image, GeoJSON of its ground-truth nuclei, their ids)."""
    folder = shared_file("nuclei", "miccai2015")
    _, labels, _, polygons = miccai("image01")
    objects = [Annotation(p, kind=ObjectKind.DETECTION) for p in polygons]
    path = tmp_path / "nuclei.geojson"
    write_annotations(objects, path)
    assert labels.max() > 300
    return folder / "image01.png", path, [a.id for a in objects]


def _argv(command: str, slide: Path, objects: Path, out: Path, *options: str) -> list[str]:
    """`tilescope COMMAND SLIDE --annotations OBJECTS [options] -o OUT` as an argument list."""
    return [command, str(slide), "--annotations", str(objects), *options, "-o", str(out)]


def _in_subprocess(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `python -m tilescope ARGV` as a user would (exit code and stderr as they see them)."""
    return subprocess.run(
        [sys.executable, "-m", "tilescope", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_measure_writes_one_row_per_object_with_id_first(
    nuclei_files: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    slide, objects, ids = nuclei_files
    out = tmp_path / "m.csv"
    assert main(_argv("measure", slide, objects, out, "--mpp", "0.5")) == 0
    rows = _rows(out)
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert len(header) == len(set(header))  # area_um2 once, not from two sources
    assert len(rows) == len(ids) and next(iter(rows[0])) == "id"
    assert {r["id"] for r in rows} == set(ids)
    for column in ("area_um2", "solidity", "hematoxylin_od_mean", "cytoplasm_dab_od_max"):
        assert column in rows[0]
    _, labels, values, _ = miccai("image01")
    counts = np.bincount(labels.ravel())[values]
    by_id = {r["id"]: float(r["area_um2"]) for r in rows}
    assert np.allclose([by_id[i] for i in ids], counts * 0.25)
    darker = [
        float(r["hematoxylin_od_mean"]) > float(r["cytoplasm_hematoxylin_od_mean"]) for r in rows
    ]
    assert np.mean(darker) > 0.9
    geo = tmp_path / "m.geojson"
    assert main(_argv("measure", slide, objects, geo, "--stains", "none")) == 0
    feature = json.loads(geo.read_text())["features"][0]
    assert "area_px2" in feature["properties"]["measurements"]  # no pixel size in a PNG


def test_classify_threshold_train_save_and_reuse(
    nuclei_files: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    slide, objects, _ = nuclei_files
    _, _, _, polygons = miccai("image01")
    areas = shapely.area(polygons)
    cut = float(np.median(areas))
    out = tmp_path / "t.csv"
    rule = f"area_px2>{cut}"
    assert main(_argv("classify", slide, objects, out, "--threshold", rule)) == 0
    truth = {r["id"]: r["class"] for r in _rows(out)}
    assert set(truth.values()) == {"Positive", "Negative"}
    # 40 points on objects, labelled by the rule, as a user would drop them.
    order = np.random.default_rng(1).permutation(len(polygons))[:40]
    points = [
        Annotation(
            polygons[i].representative_point(),
            ShapeType.POINT,
            "Big" if areas[i] > cut else "Small",
        )
        for i in order
    ]
    labelled = tmp_path / "labelled.geojson"
    write_annotations(points, labelled)
    clf = tmp_path / "clf.onnx"
    trained = tmp_path / "trained.csv"
    args = ["--train", str(labelled), "--features", "area_px2,perimeter_px", "--save", str(clf)]
    assert main(_argv("classify", slide, objects, trained, *args)) == 0
    got = {r["id"]: r["class"] for r in _rows(trained)}
    agree = np.mean([(got[i] == "Big") == (truth[i] == "Positive") for i in truth])
    assert agree > 0.9
    assert ObjectClassifier.load(clf).features == ["area_px2", "perimeter_px"]
    again = tmp_path / "again.csv"
    assert main(_argv("classify", slide, objects, again, "--classifier", str(clf))) == 0
    assert {r["id"]: r["class"] for r in _rows(again)} == got


def test_slide_as_input_uses_and_keeps_its_store(
    nuclei_files: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    slide, _, _ = nuclei_files
    _, _, _, polygons = miccai("image01")
    with AnnotationStore.for_slide(slide) as store:
        run = store.add_run("truth")
        ids = store.add_detections(polygons[:50], None, run_id=run.run_id)
        store.add_detections(polygons[50:60], None)
    out = tmp_path / "run.csv"
    assert main(_argv("measure", slide, slide, out, "--run", run.run_id)) == 0
    assert sorted(r["id"] for r in _rows(out)) == sorted(ids)
    with AnnotationStore.for_slide(slide) as store:
        assert "dab_od_mean" in store.get(ids[0]).measurements


def test_bad_input_is_one_line(tmp_path: Path, nuclei_files: tuple[Path, Path, list[str]]) -> None:
    slide, objects, _ = nuclei_files
    missing = tmp_path / "nope.geojson"
    result = _in_subprocess(_argv("measure", slide, missing, Path("x.csv")))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("tilescope: error:")
    assert str(missing) in result.stderr
    result = _in_subprocess(
        _argv("classify", slide, objects, tmp_path / "o.csv", "--threshold", "no_such>1")
    )
    assert result.returncode == 2 and "not measured in this store: no_such" in result.stderr
    lines = result.stderr.strip().splitlines()  # progress bars, then one error line
    assert [line for line in lines if "error" in line] == lines[-1:]
