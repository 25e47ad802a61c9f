"""Tables per page of a multi-page TIFF document (pages are the slide's scenes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from tests.conftest import shared_file
from tilescope.engine.slide import SlideError, open_slide
from tilescope.plugins.table_detection import detect_tables
from tilescope.plugins.table_detection.api import layout_model
from tilescope.plugins.table_detection.pages import detect_in_document, detect_in_slide

NAMES = ("PMC3576793_00004", "PMC5491943_00004", "PMC3976938_00002")


def page(name: str) -> np.ndarray:
    path = shared_file("documents", "publaynet", f"{name}.jpg")
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "three pages.tif"
    with tifffile.TiffWriter(path) as writer:
        for name in NAMES:
            writer.write(page(name), photometric="rgb", compression="deflate")
    return path


def bounds(annotations: list) -> list[float]:
    return [v for a in annotations for v in a.geometry.bounds]


def test_every_page_of_a_tiff_document(document: Path) -> None:
    seen: list[tuple[int, int]] = []
    results = detect_in_document(document, progress=lambda done, total: seen.append((done, total)))
    assert sorted(results) == [0, 1, 2]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert results[1] == []  # the page without a table
    for index in (0, 2):
        assert len(results[index]) == 1
        assert bounds(results[index]) == pytest.approx(bounds(detect_tables(page(NAMES[index]))))


def test_chosen_pages_and_a_missing_page(document: Path) -> None:
    assert sorted(detect_in_document(document, pages=[2])) == [2]
    with pytest.raises(SlideError, match="no page 7"):
        detect_in_document(document, pages=[7])


def test_large_scan_is_read_downsampled_and_mapped_to_level0(tmp_path: Path) -> None:
    image = page(NAMES[0])
    big = np.asarray(Image.fromarray(image).resize((image.shape[1] * 5, image.shape[0] * 5)))
    path = tmp_path / "scan.tif"
    tifffile.imwrite(path, big, photometric="rgb", tile=(512, 512), compression="deflate")
    with open_slide(path) as source:
        found = detect_in_slide(layout_model(device="cpu"), source)
    assert len(found) == 1
    small = detect_tables(image)[0].geometry.bounds
    assert [v / 5 for v in found[0].geometry.bounds] == pytest.approx(list(small), abs=5)
