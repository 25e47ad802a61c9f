"""The overlay with 200,000 synthetic polygons: a frame completes and draws them, zoomed out
(pre-drawn tiles from worker threads) and zoomed in (shapes drawn one by one). Timing is in
benchmarks/bench_overlay.py, not here; most of this test's time is the store's bulk insert."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from PySide6.QtCore import QPointF

from tests.gui.annotation_helpers import annotated_slide, drag
from tests.gui.helpers import image_to_array, wait_complete
from tilescope.gui.annotations.raster_tiles import tile_level, visible_keys

pytestmark = pytest.mark.timeout(120)
COUNT = 200_000
NUCLEUS_BLUE = (100, 150, 220)  # QuPath's Nucleus colour


@pytest.fixture
def annotated(qtbot):
    yield from annotated_slide(qtbot)


def synthetic_cells(width: float, height: float, count: int, seed: int = 0) -> np.ndarray:
    """Diamonds 5 px across scattered over the slide (built without a Python loop)."""
    rng = np.random.default_rng(seed)
    centres = np.column_stack([rng.uniform(3, width - 3, count), rng.uniform(3, height - 3, count)])
    ring = np.array([[2.5, 0], [0, 2.5], [-2.5, 0], [0, -2.5], [2.5, 0]])
    return shapely.polygons(centres[:, None, :] + ring[None])


def changed_pixels(a: np.ndarray, b: np.ndarray) -> int:
    return int((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 30).sum())


def bluish_pixels(image: np.ndarray) -> int:
    r, _g, b = (image[:, :, i].astype(int) for i in range(3))
    return int(((b - r > 40) & (b > 120)).sum())


def test_200k_polygons_render_zoomed_out_and_in(annotated, qtbot):
    view, session, overlay = annotated.view, annotated.session, annotated.slide.overlay
    meta = view.source.metadata
    wait_complete(qtbot, view)
    empty = image_to_array(view.grab().toImage())
    session.store.add_detections(synthetic_cells(meta.width, meta.height, COUNT), "Nucleus")
    assert session.store.count() == COUNT
    # Zoomed out: too many to draw one by one; tiles arrive from the workers.
    view.update()
    qtbot.waitUntil(lambda: view.grab() is not None and overlay.last_complete, timeout=60000)
    assert overlay.last_mode == "raster"
    zoomed_out = image_to_array(view.grab().toImage())
    slide_pixels = (meta.width / view.transform.downsample) * (
        meta.height / view.transform.downsample
    )
    assert changed_pixels(zoomed_out, empty) > 0.3 * slide_pixels
    assert bluish_pixels(zoomed_out) > bluish_pixels(empty) + 0.3 * slide_pixels
    # Zoomed in: a few thousand shapes drawn directly.
    view.zoom_to_device_downsample(0.25)
    view.center_on(meta.width / 2, meta.height / 2)
    wait_complete(qtbot, view)
    image = image_to_array(view.grab().toImage())
    assert overlay.last_mode == "vector"
    session.set_class_visible("Nucleus", False)
    without = image_to_array(view.grab().toImage())
    assert bluish_pixels(image) > bluish_pixels(without) + 0.1 * image.shape[0] * image.shape[1]


def test_a_local_edit_redraws_only_the_tiles_it_touches(annotated, qtbot):
    view, session, overlay = annotated.view, annotated.session, annotated.slide.overlay
    meta = view.source.metadata
    overlay.vector_limit = 5  # tiles even for a handful of objects
    session.store.add_detections(synthetic_cells(meta.width, meta.height, 60, seed=3), "Nucleus")
    view.zoom_to_device_downsample(1.0)
    view.center_on(meta.width / 2, meta.height / 2)
    wait_complete(qtbot, view)
    qtbot.waitUntil(lambda: view.grab() is not None and overlay.last_complete, timeout=10000)
    assert overlay.last_mode == "raster"
    before = image_to_array(view.grab().toImage())
    t = view.transform
    visible = len(visible_keys(t.visible_rect(), tile_level(t.downsample)))
    assert visible >= 4
    rendered = overlay.tiles.rendered_count
    annotated.ui.set_tool("rectangle")
    drag(view, [QPointF(20, 20), QPointF(80, 60)])
    session.clear_selection()
    qtbot.waitUntil(lambda: view.grab() is not None and overlay.last_complete, timeout=10000)
    drawn = image_to_array(view.grab().toImage())
    assert changed_pixels(drawn, before) > 100
    assert 1 <= overlay.tiles.rendered_count - rendered < visible
    # Undo removes it again: its (remembered) place is redrawn.
    rendered = overlay.tiles.rendered_count
    annotated.ui.undo()
    qtbot.waitUntil(lambda: view.grab() is not None and overlay.last_complete, timeout=10000)
    assert changed_pixels(image_to_array(view.grab().toImage()), before) == 0
    assert 1 <= overlay.tiles.rendered_count - rendered < visible


def test_hiding_a_model_run_redraws_the_tiles(annotated, qtbot):
    view, session, overlay = annotated.view, annotated.session, annotated.slide.overlay
    meta = view.source.metadata

    def row(y: float, count: int) -> np.ndarray:
        xs = np.linspace(100, meta.width - 100, count)
        return shapely.buffer(shapely.points(xs, np.full(count, y)), 30)

    overlay.vector_limit = 5
    session.store.add_detections(row(300, 10), "Stroma")  # enough to stay tiled throughout
    wait_complete(qtbot, view)
    qtbot.waitUntil(lambda: view.grab() is not None and overlay.last_complete, timeout=10000)
    baseline = image_to_array(view.grab().toImage())
    run = session.store.add_run("test-model")
    session.store.add_detections(row(meta.height / 2, 40), "Nucleus", run_id=run.run_id)
    qtbot.waitUntil(lambda: view.grab() is not None and overlay.last_complete, timeout=10000)
    assert overlay.last_mode == "raster"
    assert changed_pixels(image_to_array(view.grab().toImage()), baseline) > 500
    session.store.set_run_hidden(run.run_id, True)
    qtbot.waitUntil(lambda: view.grab() is not None and overlay.last_complete, timeout=10000)
    assert overlay.last_mode == "raster"
    assert changed_pixels(image_to_array(view.grab().toImage()), baseline) == 0
