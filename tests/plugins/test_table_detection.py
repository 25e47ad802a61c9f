"""Table detection accuracy on real PubLayNet pages (COCO ground truth), and the model type."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_file
from tilescope.engine.annotations.model import ObjectKind, ShapeType
from tilescope.plugins.catalog import load_model
from tilescope.plugins.registry import get_type
from tilescope.plugins.table_detection import detect_tables, to_csv, to_html
from tilescope.plugins.table_detection.export import write_table_files
from tilescope.plugins.table_detection.model_type import PicoDetLayoutType
from tilescope.plugins.table_detection.nms import iou
from tilescope.plugins.table_detection.results import grid_from_cells

TABLE_CATEGORY = 4
PAGES_WITH_TABLES = {
    "PMC3576793_00004": 1,
    "PMC3863500_00003": 1,
    "PMC3976938_00002": 2,
    "PMC4760359_00006": 1,
    "PMC5678782_00005": 1,
}
PAGES_WITHOUT_TABLES = ("PMC4027932_00001", "PMC5491943_00004")


def ground_truth() -> dict[str, np.ndarray]:
    """Table boxes (x0, y0, x1, y1) per page name, from the COCO file."""
    coco = json.loads(shared_file("documents", "publaynet", "samples.json").read_text())
    names = {image["id"]: Path(image["file_name"]).stem for image in coco["images"]}
    boxes: dict[str, list[list[float]]] = {}
    for item in coco["annotations"]:
        if item["category_id"] == TABLE_CATEGORY:
            x, y, w, h = item["bbox"]
            boxes.setdefault(names[item["image_id"]], []).append([x, y, x + w, y + h])
    return {name: np.asarray(b, dtype=np.float64) for name, b in boxes.items()}


def page(name: str) -> np.ndarray:
    return np.asarray(
        Image.open(shared_file("documents", "publaynet", f"{name}.jpg")).convert("RGB")
    )


def test_ground_truth_matches_the_sample_pages() -> None:
    truth = ground_truth()
    assert {n: len(truth.get(n, [])) for n in PAGES_WITH_TABLES} == PAGES_WITH_TABLES
    assert all(name not in truth for name in PAGES_WITHOUT_TABLES)


def test_tables_found_on_publaynet_pages() -> None:
    truth = ground_truth()
    matched_ious: list[float] = []
    predicted = false_positives = 0
    for name in (*PAGES_WITH_TABLES, *PAGES_WITHOUT_TABLES):
        tables = detect_tables(page(name))
        assert all(t.class_name == "Table" for t in tables)
        expected = truth.get(name, np.zeros((0, 4)))
        free = list(range(len(expected)))
        for table in tables:  # best score first: greedy one-to-one matching
            predicted += 1
            box = np.asarray(table.geometry.bounds)
            overlaps = iou(box, expected[free]) if free else np.zeros(0)
            if overlaps.size and overlaps.max() >= 0.5:
                matched_ious.append(float(overlaps.max()))
                free.pop(int(overlaps.argmax()))
            else:
                false_positives += 1
        if name in PAGES_WITHOUT_TABLES:
            assert tables == [], f"{name}: table reported on a page without one"
    total = sum(PAGES_WITH_TABLES.values())
    precision = len(matched_ious) / predicted if predicted else 0.0
    recall = len(matched_ious) / total
    mean_iou = float(np.mean(matched_ious)) if matched_ious else 0.0
    print(
        f"\ntable detection on {len(PAGES_WITH_TABLES) + len(PAGES_WITHOUT_TABLES)} PubLayNet "
        f"pages: precision {precision:.3f}, recall {recall:.3f} ({len(matched_ious)}/{total}), "
        f"mean IoU {mean_iou:.3f}, false positives {false_positives}"
    )
    assert len(matched_ious) >= 5
    assert false_positives == 0
    assert mean_iou >= 0.8


def test_detections_are_scored_rectangles_in_page_pixels() -> None:
    image = page("PMC3576793_00004")
    tables = detect_tables(image)
    assert len(tables) == 1
    table = tables[0]
    assert table.shape_type is ShapeType.RECTANGLE and table.kind is ObjectKind.DETECTION
    assert 0.5 < (table.score or 0) <= 1
    x0, y0, x1, y1 = table.geometry.bounds
    assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
    # Twice the resolution: the same table at twice the coordinates (anisotropic map-back).
    big = np.asarray(Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 3)))
    scaled = detect_tables(big)
    assert len(scaled) == 1
    bx0, by0, bx1, by1 = scaled[0].geometry.bounds
    assert [bx0 / 2, by0 / 3, bx1 / 2, by1 / 3] == pytest.approx([x0, y0, x1, y1], abs=6)


def test_other_layout_classes_only_on_request() -> None:
    image = page("PMC3976938_00002")
    every = detect_tables(image, classes="all")
    names = {a.class_name for a in every}
    assert {"Table", "Text"} <= names
    assert {a.class_name for a in detect_tables(image, classes="table,figure")} <= {
        "Table",
        "Figure",
    }


def white_padded(image: np.ndarray, width: int) -> np.ndarray:
    pad = np.full((image.shape[0], width - image.shape[1], 3), 255, np.uint8)
    return np.concatenate([image, pad], axis=1)


def test_tall_strip_of_three_pages_is_read_in_windows() -> None:
    """Pages stacked into one scan: each page is read in a window of its own shape."""
    names = ("PMC3576793_00004", "PMC5491943_00004", "PMC4760359_00006")
    pages = [page(n) for n in names]
    width = max(p.shape[1] for p in pages)
    stacked = np.concatenate([white_padded(p, width) for p in pages])
    truth = ground_truth()
    offset = pages[0].shape[0] + pages[1].shape[0]
    expected = np.concatenate([truth[names[0]], truth[names[2]] + [0, offset, 0, offset]])
    tables = detect_tables(stacked)
    assert len(tables) == 2
    for table in tables:
        assert iou(np.asarray(table.geometry.bounds), expected).max() >= 0.7


def test_structure_on_request_gives_cells_for_ruled_tables_only(tmp_path: Path) -> None:
    image = page("PMC4760359_00006").copy()
    plain = detect_tables(image, structure=True)
    assert [a.class_name for a in plain] == ["Table"]  # printed with horizontal rules only
    assert plain[0].properties["structure"] == "no rulings"
    # Rule the real table's columns and borders: now it has a cell grid.
    x0, y0, x1, y1 = (int(v) for v in ground_truth()["PMC4760359_00006"][0])
    for x in (x0 - 1, x0 + 64, x0 + 136, x0 + 201, x0 + 258, x0 + 386, x1 + 1):
        image[y0 - 1 : y1 + 2, x, :] = 0
    annotations = detect_tables(image, structure=True)
    table, cells = annotations[0], annotations[1:]
    assert table.class_name == "Table" and table.properties["structure"] == "ruled"
    assert (table.properties["rows"], table.properties["cols"]) == (2, 6)
    assert len(cells) == 12 and {c.class_name for c in cells} == {"Cell"}
    assert table.properties["table"] == 1 and all(c.properties["table"] == 1 for c in cells)
    assert all(table.geometry.buffer(8).contains(c.geometry) for c in cells)
    rebuilt = grid_from_cells(cells)  # e.g. read back from a store, then exported
    assert to_html(rebuilt) == table.properties["html"]
    assert to_csv(rebuilt).count("\n") == 2
    written = write_table_files(annotations, tmp_path, "page")
    assert [p.name for p in written] == ["page.table-1.csv", "page.table-1.html"]
    assert written[0].read_text() == ",,,,,\n,,,,,\n"
    assert written[1].read_text() == table.properties["html"]


def test_registered_type_and_bundled_model() -> None:
    assert get_type("picodet-layout") is PicoDetLayoutType
    model = load_model("table-detection", device="cpu")
    assert isinstance(model, PicoDetLayoutType)
    assert not model.uses_tissue_detection()
    assert model.tile_spec().whole_image
    assert model.labels()[4] == "table"
    assert model.parameters["classes"] == "table"


def test_bad_parameters_are_named() -> None:
    model = load_model("table-detection", device="cpu")
    with pytest.raises(ValueError, match="score_threshold"):
        model.detect_page(np.full((100, 80, 3), 255, np.uint8), score_threshold=2.0)
    with pytest.raises(ValueError, match="not a parameter"):
        model.detect_page(np.full((100, 80, 3), 255, np.uint8), colour=True)
    with pytest.raises(ValueError, match="unknown layout class chart"):
        model.detect_page(np.full((100, 80, 3), 255, np.uint8), classes="table,chart")


def test_blank_and_odd_images() -> None:
    assert detect_tables(np.full((792, 612), 255, np.uint8)) == []
    assert detect_tables(np.zeros((40, 30, 4), np.uint8)) == []
    with pytest.raises(ValueError, match="too small"):
        detect_tables(np.zeros((1, 30, 3), np.uint8))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tilescope", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def geojson_tables(path: Path) -> list[tuple[list[float], dict]]:
    features = json.loads(path.read_text())["features"]
    out = []
    for feature in features:
        ring = np.asarray(feature["geometry"]["coordinates"][0])
        box = [ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(), ring[:, 1].max()]
        out.append((box, feature["properties"]))
    return out


def test_infer_cli_writes_table_boxes(tmp_path: Path) -> None:
    name = "PMC4760359_00006"
    image = shared_file("documents", "publaynet", f"{name}.jpg")
    done = run_cli("infer", str(image), "--model", "table-detection", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    found = geojson_tables(tmp_path / f"{name}.geojson")
    assert len(found) == 1
    box, properties = found[0]
    assert properties["classification"]["name"] == "Table"
    assert iou(np.asarray(box), ground_truth()[name]).max() >= 0.8


def test_infer_cli_structure_and_parameters(tmp_path: Path) -> None:
    """--structure adds cells of ruled tables; --param sets the other layout classes."""
    name = "PMC4760359_00006"
    image = page(name).copy()
    x0, y0, x1, y1 = (int(v) for v in ground_truth()[name][0])
    for x in (x0 - 1, x0 + 64, x0 + 136, x0 + 201, x0 + 258, x0 + 386, x1 + 1):
        image[y0 - 1 : y1 + 2, x, :] = 0  # rule the real table's columns
    ruled = tmp_path / "ruled page.png"
    Image.fromarray(image).save(ruled)
    out = tmp_path / "out"
    done = run_cli(
        "infer", str(ruled), "--model", "table-detection", "--out", str(out), "--structure"
    )
    assert done.returncode == 0, done.stderr
    found = geojson_tables(out / "ruled page.geojson")
    names = [properties["classification"]["name"] for _, properties in found]
    assert names.count("Table") == 1 and names.count("Cell") == 12

    done = run_cli(
        "infer", str(ruled), "--model", "table-detection", "--out", str(tmp_path / "all"),
        "--param", "classes=all", "--param", "score_threshold=0.6", "--no-store",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    classes = {
        p["classification"]["name"]
        for _, p in geojson_tables(tmp_path / "all" / "ruled page.geojson")
    }
    assert {"Table", "Text"} <= classes and "Cell" not in classes

    done = run_cli(
        "infer", str(ruled), "--model", "table-detection", "--out", str(out), "--param", "nope=1"
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("tilescope: error:")
    assert "nope" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["gray", "bilevel", "uint16", "float"])
def test_scan_pixel_types(kind: str) -> None:
    """Grey, bilevel (fax/TIFF G4), 16-bit and float scans find the same table."""
    gray = np.asarray(Image.fromarray(page("PMC4760359_00006")).convert("L"))
    image = {
        "gray": gray,
        "bilevel": gray > 128,
        "uint16": gray.astype(np.uint16) * 257,
        "float": gray / 255.0,
    }[kind]
    tables = detect_tables(image)
    assert len(tables) == 1
    assert iou(np.asarray(tables[0].geometry.bounds), ground_truth()["PMC4760359_00006"])[0] > 0.9
