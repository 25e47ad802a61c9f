"""The minimap moves the view on click and drag; the scale bar reads in um/mm or px."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from tests.gui.conftest import ArraySource, rgb_pyramid
from tilescope.engine.slide import open_slide
from tilescope.gui.viewer.minimap import Minimap
from tilescope.gui.viewer.scale_bar import ScaleBar, nice_length, scale_bar_for


def test_minimap_click_and_drag_move_the_view(qtbot, make_view, demo_path):
    view = make_view(open_slide(demo_path))
    minimap = Minimap(view)
    view.zoom_one_to_one()
    assert minimap.x() > view.width() / 2  # top-right corner
    qtbot.mouseClick(minimap, Qt.MouseButton.LeftButton, pos=QPoint(30, 40))
    x, y = minimap.level0_at(QPoint(30, 40).toPointF())
    assert (view.transform.center_x, view.transform.center_y) == pytest.approx((x, y))
    assert 0 < x < 2220 / 2 and 0 < y < 2967 / 2
    qtbot.mousePress(minimap, Qt.MouseButton.LeftButton, pos=QPoint(30, 40))
    qtbot.mouseMove(minimap, QPoint(minimap.width() - 20, minimap.height() - 20))
    qtbot.mouseRelease(minimap, Qt.MouseButton.LeftButton)
    assert view.transform.center_x > 2220 / 2 and view.transform.center_y > 2967 / 2


def test_minimap_follows_resize(qtbot, make_view, array_source):
    view = make_view(array_source)
    minimap = Minimap(view)
    view.resize(1000, 700)
    assert minimap.geometry().right() == 1000 - 10 - 1


def test_scale_bar_units(qtbot, make_view, demo_path):
    assert nice_length(340) == 200 and nice_length(99) == 50 and nice_length(1.2) == 1
    assert scale_bar_for(0.5, 2.0)[1] == "100 µm"  # 1 um per pixel: 120 px -> 100 um
    assert scale_bar_for(0.5, 40.0)[1] == "2 mm"
    assert scale_bar_for(None, 10.0) == pytest.approx((100.0, "1000 px"))
    view = make_view(open_slide(demo_path))
    bar = ScaleBar(view)
    view.zoom_one_to_one()
    assert bar.label() == "50 µm"  # 0.499 um/px: 120 px cover 59.9 um
    assert bar.y() > view.height() / 2  # bottom-left corner
    source = ArraySource(rgb_pyramid(512, 512, 1), mpp=None)
    assert ScaleBar(make_view(source)).label().endswith("px")


@pytest.mark.parametrize("mpp", [float("inf"), float("nan"), -1.0, 1e-300])
def test_a_nonsense_pixel_size_paints_a_px_scale_bar(qtbot, make_view, mpp):
    """A file claiming `MPP = inf` used to raise inside paintEvent (native crash off screen)."""
    source = ArraySource(rgb_pyramid(512, 512, 1), mpp=mpp)
    view = make_view(source)
    bar = ScaleBar(view)
    Minimap(view)
    qtbot.waitUntil(view.is_complete, timeout=10000)
    image = view.grab().toImage()  # paints the view, the bar and the minimap
    assert not image.isNull()
    expected = "px" if mpp != 1e-300 else "µm"  # a tiny positive size still gives a length
    assert bar.label().endswith(expected) or bar.label() == ""
    bar_image = bar.grab().toImage()
    assert not bar_image.isNull()


def test_nan_and_infinite_view_changes_are_ignored(qtbot, make_view, array_source):
    view = make_view(array_source)
    before = view.transform
    view.center_on(float("nan"), 10.0)
    view.zoom_to_device_downsample(float("inf"))
    view.zoom_to_device_downsample(float("nan"))
    view.pan_by(float("inf"), 0.0)
    view.set_device_pixel_ratio(float("nan"))
    assert view.transform == before
    view.grab()  # still paints
    view.center_on(100.0, 200.0)
    assert (view.transform.center_x, view.transform.center_y) == (100.0, 200.0)
