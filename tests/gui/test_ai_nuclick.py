"""The NuClick tool on the demo slide: click, Shift+click batch, squiggle, undo, background."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication
from skimage import filters, measure, morphology

from tests.gui.annotation_helpers import annotated_slide, click, drag, widget_point
from tilescope.engine.slide import RegionRequest
from tilescope.gui.ai.nuclick_tool import DEFAULT_CLASS, NuClickTool

SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def annotated(qtbot):
    yield from annotated_slide(qtbot)


def nucleus_centres(source, x0: int, y0: int, size: int = 400) -> list[tuple[float, float]]:
    """Centres of dark (haematoxylin) blobs of nucleus size, largest first: real nuclei."""
    grey = source.read_region(RegionRequest(x0, y0, size, size, 1.0))[..., :3].mean(axis=2)
    mask = morphology.opening(grey < 110, morphology.disk(2))
    blobs = [p for p in measure.regionprops(measure.label(mask)) if 60 < p.area < 600]
    blobs.sort(key=lambda p: -p.area)
    return [(x0 + p.centroid[1], y0 + p.centroid[0]) for p in blobs]


def background_point(source) -> tuple[float, float]:
    """The brightest (glass) spot of the slide, away from its border."""
    meta = source.metadata
    small = source.read_region(RegionRequest(0, 0, meta.width, meta.height, 4.0))
    grey = filters.gaussian(small[..., :3].mean(axis=2), 5, preserve_range=True)
    grey[:16], grey[-16:], grey[:, :16], grey[:, -16:] = 0, 0, 0, 0
    y, x = np.unravel_index(np.argmax(grey), grey.shape)
    return float(x * 4), float(y * 4)


def nuclick(qtbot, annotated) -> NuClickTool:
    view = annotated.view
    view.set_transform(view.transform.zoomed_to(1.0).centered_on(1050, 1000))
    tool = annotated.window.ai.activate_nuclick()
    assert tool is not None and view.tool is tool
    qtbot.waitUntil(lambda: tool.ready, timeout=20000)  # session made and warmed up
    return tool


def wait_results(qtbot, tool: NuClickTool, steps: int) -> None:
    qtbot.waitUntil(lambda: len(tool.results) >= steps and not tool.in_flight, timeout=10000)


def test_click_on_a_nucleus_outlines_it_and_undo_removes_it(qtbot, annotated):
    tool = nuclick(qtbot, annotated)
    view, store = annotated.view, annotated.session.store
    x, y = nucleus_centres(view.source, 850, 800)[0]
    click(view, widget_point(view, x, y))
    wait_results(qtbot, tool, 1)
    [outline] = store.query()
    assert outline.class_name == DEFAULT_CLASS
    assert outline.geometry.contains(outline.geometry.centroid)
    mpp = view.source.metadata.mpp[0]
    area_um2 = outline.geometry.area * mpp * mpp
    assert 5 < area_um2 < 400  # a nucleus, not the background or a speck
    assert abs(outline.geometry.centroid.x - x) < 15 and abs(outline.geometry.centroid.y - y) < 15
    assert tool.last_latency_ms is not None
    annotated.ui.undo()
    assert store.count() == 0


def test_current_class_is_used(qtbot, annotated):
    tool = nuclick(qtbot, annotated)
    annotated.session.set_current_class("Tumor")
    view = annotated.view
    x, y = nucleus_centres(view.source, 850, 800)[0]
    click(view, widget_point(view, x, y))
    wait_results(qtbot, tool, 1)
    assert [a.class_name for a in annotated.session.store.query()] == ["Tumor"]


def test_shift_clicks_queue_and_release_of_shift_segments_them_as_one_step(qtbot, annotated):
    tool = nuclick(qtbot, annotated)
    view, store = annotated.view, annotated.session.store
    centres = nucleus_centres(view.source, 850, 800)[:4]
    for x, y in centres:
        click(view, widget_point(view, x, y), modifiers=SHIFT)
    assert len(tool.queued) == 4 and store.count() == 0
    release = QKeyEvent(QEvent.Type.KeyRelease, Qt.Key.Key_Shift, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view, release)
    wait_results(qtbot, tool, 1)
    outlines = store.query()
    assert len(outlines) >= 3
    assert len(tool.results) == 1  # one batch, one undo step
    # The exclusion maps keep neighbours apart: outlines barely overlap.
    for i, a in enumerate(outlines):
        for b in outlines[i + 1 :]:
            assert a.geometry.intersection(b.geometry).area < 0.2 * min(
                a.geometry.area, b.geometry.area
            )
    annotated.ui.undo()
    assert store.count() == 0


def test_squiggle_outlines_the_object_under_it(qtbot, annotated):
    tool = nuclick(qtbot, annotated)
    view, store = annotated.view, annotated.session.store
    x, y = nucleus_centres(view.source, 850, 800)[0]
    drag(view, [widget_point(view, x - 4, y - 2), widget_point(view, x + 4, y + 2)])
    wait_results(qtbot, tool, 1)
    [outline] = store.query()
    assert outline.geometry.buffer(2).contains(shapely_point(x, y))


def test_click_on_glass_says_so_in_the_status_bar(qtbot, annotated):
    tool = nuclick(qtbot, annotated)
    view = annotated.view
    x, y = background_point(view.source)
    view.center_on(x, y)
    click(view, widget_point(view, x, y))
    qtbot.waitUntil(lambda: not tool.in_flight and tool.last_message is not None, timeout=10000)
    qtbot.waitUntil(lambda: "nothing under the click" in tool.last_message, timeout=5000)
    assert "nothing under the click" in annotated.window.statusBar().currentMessage()
    assert annotated.session.store.count() == 0


def test_shortcut_does_not_clash_with_annotation_tools(annotated):
    from tilescope.gui.tools import TOOLS

    ai = annotated.window.ai
    taken = {spec.shortcut for spec in TOOLS} | {"A"}
    assert ai.nuclick_action.shortcut().toString() not in taken
    ai.nuclick_action.trigger()
    assert isinstance(annotated.view.tool, NuClickTool)
    annotated.ui.set_tool("rectangle")  # another tool takes over, NuClick unchecked
    assert not ai.nuclick_action.isChecked()


def shapely_point(x: float, y: float):
    import shapely

    return shapely.Point(x, y)


def test_the_outline_does_not_depend_on_the_zoom(qtbot, annotated):
    tool = nuclick(qtbot, annotated)
    view, store = annotated.view, annotated.session.store
    x, y = nucleus_centres(view.source, 850, 800)[0]
    click(view, widget_point(view, x, y))
    wait_results(qtbot, tool, 1)
    near = store.query()[0].geometry
    annotated.ui.undo()
    view.set_transform(view.transform.zoomed_to(3.0).centered_on(x, y))  # zoomed far out
    click(view, widget_point(view, x, y))
    wait_results(qtbot, tool, 2)
    far = store.query()[0].geometry
    # The patch is read at the model's mpp, so the same click gives the same nucleus.
    assert far.intersection(near).area > 0.7 * max(far.area, near.area)
