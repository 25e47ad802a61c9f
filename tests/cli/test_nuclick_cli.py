"""`tilescope nuclick` as a user runs it: a real slide, clicks on nuclei, QuPath GeoJSON out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from scipy import ndimage as ndi
from shapely.geometry import Point
from skimage.color import rgb2hed

from tests.conftest import REPO_ROOT
from tilescope.engine.slide import RegionRequest, open_slide

MPP = 0.499  # CMU-1-Small-Region.svs


def _tilescope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tilescope", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _refused(tmp_path: Path, slide: Path, args: list[str]) -> str:
    """The stderr of `nuclick SLIDE ARGS`, checked refused: exit 2, no traceback, no output."""
    out = tmp_path / "o.geojson"
    result = _tilescope("nuclick", str(slide), *args, "-o", str(out))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert not out.exists()
    return result.stderr


def _dark_blob_centres(slide_path: Path, count: int) -> list[tuple[float, float]]:
    """Centres of compact haematoxylin-dark blobs (nuclei) in a region of the slide."""
    x0, y0 = 1000, 1000
    with open_slide(slide_path) as slide:
        pixels = slide.read_region(RegionRequest(x0, y0, 256, 256, 1.0))
    haem = rgb2hed(pixels)[..., 0]
    mask = ndi.binary_opening(haem > np.percentile(haem, 85), np.ones((3, 3), bool))
    labels, n = ndi.label(mask)
    centres = []
    for index in range(1, n + 1):
        blob = labels == index
        r, c = ndi.center_of_mass(blob)
        if 40 <= blob.sum() <= 150 and blob[int(r), int(c)]:
            centres.append((x0 + c + 0.5, y0 + r + 0.5))
    assert len(centres) >= count
    return centres[:count]


def _features(path: Path) -> list[dict]:
    collection = json.loads(path.read_text())
    assert collection["type"] == "FeatureCollection"
    return collection["features"]


def test_clicks_on_nuclei_give_nucleus_sized_outlines(tmp_path: Path, cmu_small_svs: Path) -> None:
    points = _dark_blob_centres(cmu_small_svs, 6)
    out = tmp_path / "nuclei.geojson"
    args = [f"{x:.1f},{y:.1f}" for x, y in points]
    result = _tilescope(
        "nuclick", str(cmu_small_svs), "--points", *args, "-o", str(out), "--device", "cpu"
    )
    assert result.returncode == 0, result.stderr
    assert "6 of 6 outlined" in result.stdout
    features = _features(out)
    assert len(features) == 6
    for (x, y), feature in zip(points, features, strict=True):
        polygon = shapely.geometry.shape(feature["geometry"])
        assert feature["properties"]["objectType"] == "annotation"
        assert polygon.geom_type == "Polygon" and polygon.is_valid
        assert 10 <= polygon.area * MPP * MPP <= 150  # um^2: a nucleus, not a speck or a field
        assert polygon.buffer(1.0).contains(Point(x, y))


def test_points_from_csv_with_header_and_class(tmp_path: Path, cmu_small_svs: Path) -> None:
    points = _dark_blob_centres(cmu_small_svs, 3)
    csv_path = tmp_path / "clicks.csv"
    csv_path.write_text("x,y\n" + "\n".join(f"{x},{y}" for x, y in points) + "\n")
    out = tmp_path / "csv.geojson"
    result = _tilescope(
        "nuclick", str(cmu_small_svs), "--points-csv", str(csv_path), "-o", str(out),
        "--class", "Tumor", "--device", "cpu",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    features = _features(out)
    assert len(features) == 3
    assert {f["properties"]["classification"]["name"] for f in features} == {"Tumor"}


def test_squiggle_gives_one_outline(tmp_path: Path, cmu_small_svs: Path) -> None:
    (x, y), *_ = _dark_blob_centres(cmu_small_svs, 1)
    out = tmp_path / "squiggle.geojson"
    squiggle = f"{x - 2:.1f},{y:.1f},{x + 2:.1f},{y + 1:.1f}"
    result = _tilescope(
        "nuclick", str(cmu_small_svs), "--squiggle", squiggle, "-o", str(out), "--device", "cpu"
    )
    assert result.returncode == 0, result.stderr
    (feature,) = _features(out)
    polygon = shapely.geometry.shape(feature["geometry"])
    assert feature["properties"]["tilescope"]["properties"]["prompt"] == "squiggle"
    assert polygon.contains(Point(x, y)) and polygon.area * MPP * MPP < 300


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--points=-500,-500"], "outside the slide"),
        (["--points", "12,abc"], "a point must be X,Y"),
        (["--squiggle", "1,2,3"], "--squiggle must be X1,Y1,X2,Y2"),
        (["--points", "10,10", "--model", "no-such-model"], "no such model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, cmu_small_svs: Path, args: list[str], expected: str
) -> None:
    assert expected in _refused(tmp_path, cmu_small_svs, args)


def test_missing_slide_and_bad_csv_name_the_file(tmp_path: Path, cmu_small_svs: Path) -> None:
    missing = tmp_path / "nope.svs"
    result = _tilescope("nuclick", str(missing), "--points", "1,1", "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and str(missing) in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n10,20\nten,twenty\n")
    result = _tilescope(
        "nuclick", str(cmu_small_svs), "--points-csv", str(bad), "-o", str(tmp_path / "o")
    )
    assert result.returncode == 2
    assert f"{bad}: line 3" in result.stderr and "Traceback" not in result.stderr


def test_mpp_sets_the_scale_the_model_sees(tmp_path: Path, cmu_small_svs: Path) -> None:
    """--mpp equal to the file's changes nothing; a different one changes the model's input."""
    points = [f"{x:.1f},{y:.1f}" for x, y in _dark_blob_centres(cmu_small_svs, 2)]
    outlines = {}
    for mpp in (None, "0.499", "1.0"):
        out = tmp_path / f"mpp-{mpp}.geojson"
        extra = ["--mpp", mpp] if mpp else []
        result = _tilescope(
            "nuclick", str(cmu_small_svs), "--points", *points, "-o", str(out), "--device", "cpu",
            *extra,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outlines[mpp] = [f["geometry"]["coordinates"] for f in _features(out)]
    assert outlines[None] == outlines["0.499"]
    assert outlines["1.0"] != outlines[None]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--points", "nan,nan"], "a point must be X,Y"),
        (["--points", "1e400,5"], "a point must be X,Y"),
        (["--squiggle", "1,2,inf,4"], "--squiggle must be X1,Y1,X2,Y2"),
        (["--points", "10,10", "--mpp", "nan"], "--mpp"),
        (["--points", "10,10", "--mpp", "1e-9"], "--mpp"),
        (["--points", "10,10", "--scene", "-1"], "--scene"),
    ],
)
def test_nonsense_numbers_are_one_line(
    tmp_path: Path, cmu_small_svs: Path, args: list[str], expected: str
) -> None:
    stderr = _refused(tmp_path, cmu_small_svs, args)
    assert expected in stderr and stderr.count("\n") == 1


def test_output_that_is_a_folder_is_refused_before_the_model_runs(
    tmp_path: Path, cmu_small_svs: Path
) -> None:
    result = _tilescope("nuclick", str(cmu_small_svs), "--points", "10,10", "-o", str(tmp_path))
    assert result.returncode == 2
    assert f"{tmp_path}: is a folder" in result.stderr and result.stderr.count("\n") == 1
