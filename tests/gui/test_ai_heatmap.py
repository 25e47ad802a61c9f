"""Probability heat maps: colour maps, the zarr pyramid reader, and the overlay after a run."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter

from tests.gui.annotation_helpers import annotated_slide
from tests.gui.helpers import image_to_array
from tilescope.engine.inference.probability_pyramid import HeatmapError, ProbabilityPyramid
from tilescope.gui.ai.colormap import COLOUR_MAPS, FADE_BELOW, colourise, lookup_table
from tilescope.gui.ai.job import JobState
from tilescope.gui.ai.models_panel import Scope
from tilescope.gui.ai.runs_panel import COL_MAP


@pytest.fixture
def annotated(qtbot):
    yield from annotated_slide(qtbot)


def test_colour_maps_run_dark_to_bright_and_fade_in():
    for name in COLOUR_MAPS:
        table = lookup_table(name)
        assert table.shape == (256, 4) and table.dtype == np.uint8
        luminance = table[:, :3].astype(float) @ [0.299, 0.587, 0.114]
        assert luminance[-1] > luminance[0] + 100
        assert table[0, 3] == 0 and table[FADE_BELOW:, 3].min() == 255
    rgba = colourise(np.array([[0, 255]], dtype=np.uint8), "viridis")
    assert tuple(rgba[0, 1]) == (0xFD, 0xE7, 0x25, 255)
    with pytest.raises(ValueError, match="unknown colour map"):
        lookup_table("jet")


def test_a_folder_that_is_no_map_is_reported(tmp_path):
    with pytest.raises(HeatmapError, match="not a tilescope probability map"):
        ProbabilityPyramid(tmp_path / "missing.zarr")


def render_layer(layer, viewport: QRectF, size: int = 256) -> np.ndarray:
    """The layer alone, painted over transparent pixels: H x W x 4 (alpha last)."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    scale = size / viewport.width()
    painter.scale(scale, scale)
    painter.translate(-viewport.x(), -viewport.y())
    layer.paint(painter, viewport, scale)
    painter.end()
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    buffer = np.frombuffer(rgba.constBits(), dtype=np.uint8, count=rgba.bytesPerLine() * size)
    return buffer.reshape(size, rgba.bytesPerLine())[:, : size * 4].reshape(size, size, 4).copy()


def test_a_runs_probability_map_is_drawn_over_the_slide(qtbot, annotated):
    view = annotated.view
    view.set_transform(view.transform.zoomed_to(400 / view.transform.width).centered_on(900, 900))
    before = image_to_array(view.render_image(1.0))
    ai = annotated.window.ai
    job = ai.run_model("nuclei-he", Scope.VIEWPORT)
    assert job is not None
    qtbot.waitUntil(lambda: not job.active, timeout=60000)
    assert job.state == JobState.DONE, job.error
    assert job.result.zarr is not None
    layers = ai.heatmaps()
    assert list(layers) == [job.result.summary.run_id]
    layer = layers[job.result.summary.run_id]
    assert view.overlays().index(layer) < view.overlays().index(annotated.slide.overlay)
    region = QRectF(*view.transform.visible_rect().getRect())
    render_layer(layer, region)  # the first paint asks the worker for the window
    qtbot.waitUntil(lambda: layer.loaded, timeout=10000)
    pixels = render_layer(layer, region)
    opaque = pixels[..., 3] > 200
    assert opaque.mean() > 0.05  # nuclei (high probability) are coloured
    assert opaque.mean() < 0.95  # background (low probability) lets the slide through
    # In the window: the view's frame changes where the map is drawn.
    annotated.slide.overlay.visible = False
    after = image_to_array(view.render_image(1.0))
    assert np.abs(after.astype(int) - before.astype(int)).sum(axis=2).mean() > 5
    # The runs panel knows the map; unticking it removes the layer.
    from PySide6.QtCore import Qt

    item = ai.runs_panel.item_for(job.result.summary.run_id)
    assert item is not None and item.checkState(COL_MAP) == Qt.CheckState.Checked
    item.setCheckState(COL_MAP, Qt.CheckState.Unchecked)
    assert ai.heatmaps() == {} and layer not in view.overlays()
    # Deleting the run removes its output folder from the cache as well.
    assert job.result.zarr.exists()
    ai.runs_panel.delete_run(job.result.summary.run_id)
    assert not job.result.zarr.parent.exists()


def test_a_cli_runs_map_appears_in_the_runs_dock(qtbot, tmp_path):
    """`tilescope infer` records its map with the run: the Runs dock offers and shows it."""
    from PySide6.QtCore import Qt

    from tests.gui.annotation_helpers import open_annotated
    from tilescope.cli.main import main
    from tilescope.resources import demo_slide_path

    out = tmp_path / "out"
    args = ["infer", str(demo_slide_path()), "--model", "nuclei-he", "--out", str(out)]
    assert main([*args, "--roi", "800,800,300,300"]) == 0
    annotated = open_annotated(qtbot)
    try:
        ai = annotated.window.ai
        ai.runs_panel.refresh()
        (run_id,) = ai.runs_panel.run_ids()
        item = ai.runs_panel.item_for(run_id)
        assert item is not None and item.checkState(COL_MAP) == Qt.CheckState.Unchecked
        item.setCheckState(COL_MAP, Qt.CheckState.Checked)
        layer = ai.heatmaps()[run_id]
        assert layer.pyramid.levels[0].shape[1:] == (
            annotated.view.source.metadata.height,
            annotated.view.source.metadata.width,
        )
        recorded = annotated.session.store.get_metadata(f"heatmap:{run_id}")
        assert recorded == str((out / "CMU-1-Small-Region.zarr").resolve())
    finally:
        annotated.window.close()
