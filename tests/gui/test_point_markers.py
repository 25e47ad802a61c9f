"""Points are markers of one screen size with a dark outline, at every zoom, whether the
overlay draws shapes one by one or pre-draws tiles (where point detections used to be
skipped as 'smaller than a pixel' or drawn as 3 px dots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
import tifffile

from tests.gui.annotation_helpers import open_annotated
from tests.gui.helpers import image_to_array, wait_complete
from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.gui.annotations.drawing import POINT_RADIUS_PX


@pytest.fixture
def white_slide(tmp_path: Path) -> Path:
    path = tmp_path / "white.tif"
    tifffile.imwrite(path, np.full((2048, 2048, 3), 255, np.uint8), photometric="rgb")
    return path


def _marker(image: np.ndarray, colour: tuple[int, int, int]) -> tuple[int, bool]:
    """Width in pixels of the marker's fill on its centre row, and whether a dark outline
    borders it there."""
    distance = np.abs(image.astype(int) - np.array(colour)).max(axis=2)
    ys, xs = np.nonzero(distance < 40)
    assert len(xs), "no marker drawn"
    row = int(np.median(ys))
    cols = xs[ys == row]
    left, right = int(cols.min()), int(cols.max())
    brightness = image[row].max(axis=1).astype(int)  # per pixel: its brightest channel
    dark = brightness[left - 2 : left].min() < 110 and brightness[right + 1 : right + 3].min() < 110
    return right - left + 1, dark


@pytest.mark.parametrize("kind", [ObjectKind.ANNOTATION, ObjectKind.DETECTION])
def test_points_keep_one_screen_size_with_an_outline(qtbot, white_slide, kind):
    slide = open_annotated(qtbot, white_slide)
    view, overlay, store = slide.view, slide.slide.overlay, slide.session.store
    store.add(Annotation(shapely.Point(1000, 1000), ShapeType.POINT, "Tumor", kind=kind))
    colour = store.class_colour("Tumor")
    sizes = []
    for limit in (overlay.vector_limit, 0):  # shapes one by one, then pre-drawn tiles
        overlay.vector_limit = limit
        for downsample in (0.5, 8.0):
            view.zoom_to_device_downsample(downsample)
            view.center_on(1000, 1000)
            wait_complete(qtbot, view)
            qtbot.waitUntil(lambda: view.grab() is not None and overlay.last_complete)
            assert overlay.last_mode == ("raster" if limit == 0 else "vector")
            width, outlined = _marker(image_to_array(view.grab().toImage()), colour[:3])
            assert outlined
            sizes.append(width)
    assert max(sizes) - min(sizes) <= 1, sizes
    assert 2 * POINT_RADIUS_PX - 3 <= sizes[0] <= 2 * POINT_RADIUS_PX + 1
    slide.window.close()


def test_the_viewport_query_keeps_points_however_small_the_zoom(tmp_path):
    from tilescope.engine.annotations.store import AnnotationStore

    with AnnotationStore(tmp_path / "s.sqlite") as store:
        point = store.add(
            Annotation(shapely.Point(5, 5), ShapeType.POINT, kind=ObjectKind.DETECTION)
        )
        store.add(Annotation(shapely.box(20, 20, 21, 21), kind=ObjectKind.DETECTION))
        batch = store.query_display((0, 0, 100, 100), min_size=4.0)
        assert batch.ids == [point]  # the 1 px square is skipped, the point is not
