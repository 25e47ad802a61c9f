"""The slide view: loading, pan, zoom, HiDPI level choice, tools and overlays, on real data."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import ArraySource, rgb_pyramid
from tests.gui.helpers import image_to_array, wait_complete
from tilescope.engine.slide import open_slide
from tilescope.gui.viewer.tile_layout import level_for
from tilescope.gui.viewer.tile_loader import TileLoader
from tilescope.gui.viewer.view_tool import BaseTool


def test_opens_demo_slide_whole_and_sharp(qtbot, make_view, demo_path):
    view = make_view(open_slide(demo_path))
    wait_complete(qtbot, view)
    assert view.transform.visible_rect().contains(QRectF(0, 0, 2220, 2967))
    view.zoom_one_to_one()
    view.center_on(1100, 1500)
    wait_complete(qtbot, view)
    pixels = image_to_array(view.render_image())
    assert pixels.std() > 20  # tissue, not a blank or flat image


def test_no_blank_tiles_after_loading_completes(qtbot, make_view, array_source):
    view = make_view(array_source)
    wait_complete(qtbot, view)
    view.zoom_one_to_one()
    view.center_on(2000, 1500)  # left/top at whole pixels: the screen equals level 0
    wait_complete(qtbot, view)
    needed = view.needed_tiles()
    assert len(needed) >= 12 and all(key[0] == 0 for key in needed)
    for key in needed:
        entry = view.image_cache.peek(key)
        assert entry is not None and not entry[0].isNull()
    pixels = image_to_array(view.render_image())
    expected = array_source.levels[0][1200:1800, 1600:2400]
    np.testing.assert_array_equal(pixels, expected)


def test_drag_and_arrow_keys_pan(qtbot, make_view, array_source):
    view = make_view(array_source)
    view.zoom_to_device_downsample(2.0)
    before = view.transform
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(300, 300))
    qtbot.mouseMove(view, QPoint(350, 280))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(350, 280))
    after = view.transform
    assert after.center_x == pytest.approx(before.center_x - 50 * before.downsample)
    assert after.center_y == pytest.approx(before.center_y + 20 * before.downsample)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.transform.center_x == pytest.approx(after.center_x + view.width() / 8 * 2.0)


def _wheel(view, position: QPointF, notches: float) -> None:
    event = QWheelEvent(
        position,
        view.mapToGlobal(position),
        QPoint(0, 0),
        QPoint(0, int(120 * notches)),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view, event)


def test_wheel_zoom_keeps_the_point_under_the_cursor(qtbot, make_view, array_source):
    view = make_view(array_source)
    cursor = QPointF(600, 150)
    anchor = view.transform.to_level0(cursor.x(), cursor.y())
    ds = view.transform.downsample
    _wheel(view, cursor, 2)  # half a doubling: continuous, not a jump to the next level
    assert view.transform.downsample == pytest.approx(ds / 2**0.5)
    assert view.transform.to_level0(cursor.x(), cursor.y()) == pytest.approx(anchor)
    _wheel(view, cursor, -2)
    assert view.transform.downsample == pytest.approx(ds)


def test_keys_double_click_presets_and_one_to_one(qtbot, make_view, demo_path):
    view = make_view(open_slide(demo_path))
    ds = view.transform.downsample
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert view.transform.downsample == pytest.approx(ds / 2**0.5)
    qtbot.keyClick(view, Qt.Key.Key_Minus)
    assert view.transform.downsample == pytest.approx(ds)
    qtbot.mouseDClick(view, Qt.MouseButton.LeftButton, pos=QPoint(400, 300))
    assert view.transform.downsample == pytest.approx(ds / 2)
    # CMU-1-Small-Region is a 20x scan (0.499 um/px): 10x = 2 slide pixels per device pixel.
    assert view.zoom_to_magnification(10)
    assert view.transform.device_downsample == pytest.approx(2.0)
    assert view.zoom_text() == "10.0x"
    view.zoom_one_to_one()
    assert view.transform.device_downsample == pytest.approx(1.0)
    assert view.magnification() == pytest.approx(20.0)
    view.fit()
    t = view.transform
    assert t.visible_rect().contains(QRectF(0, 0, 2220, 2967))


def test_level_follows_device_pixels_on_hidpi(qtbot, make_view, array_source):
    view = make_view(array_source)
    view.set_device_pixel_ratio(2.0)
    view.zoom_to_device_downsample(2.0)  # 4 level-0 px per logical pixel at DPR 2
    assert view.transform.downsample == pytest.approx(4.0)
    assert level_for(array_source, view.transform) == 1  # downsample-2 level, not 4
    wait_complete(qtbot, view)
    image = view.render_image(2.0)
    assert (image.width(), image.height()) == (1600, 1200)


def test_pinch_gesture_zooms(qtbot, make_view, array_source):
    from PySide6.QtGui import QNativeGestureEvent, QPointingDevice

    view = make_view(array_source)
    ds = view.transform.downsample
    position = QPointF(200, 200)
    anchor = view.transform.to_level0(200, 200)
    event = QNativeGestureEvent(
        Qt.NativeGestureType.ZoomNativeGesture,
        QPointingDevice.primaryPointingDevice(),
        2,
        position,
        position,
        view.mapToGlobal(position),
        0.5,
        QPointF(0, 0),
    )
    QApplication.sendEvent(view, event)
    assert view.transform.downsample == pytest.approx(ds / 1.5)
    assert view.transform.to_level0(200, 200) == pytest.approx(anchor)


class RecordingTool(BaseTool):
    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def mouse_press(self, view, event) -> bool:
        self.points.append(view.transform.to_level0(event.position().x(), event.position().y()))
        return True

    def mouse_move(self, view, event) -> bool:
        return bool(self.points)


def test_active_tool_gets_mouse_events_instead_of_panning(qtbot, make_view, array_source):
    view = make_view(array_source)
    tool = RecordingTool()
    view.set_tool(tool)
    before = view.transform
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(view, QPoint(200, 200))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    assert view.transform == before
    assert tool.points == [pytest.approx(before.to_level0(100, 100))]
    view.set_tool(None)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(view, QPoint(200, 200))
    assert view.transform != before


class SquareLayer:
    """A red square in level-0 pixels (400..600, 400..600)."""

    visible = True
    opacity = 1.0

    def __init__(self) -> None:
        self.calls: list[tuple[QRectF, float]] = []

    def paint(self, painter: QPainter, viewport: QRectF, scale: float) -> None:
        self.calls.append((viewport, scale))
        painter.fillRect(QRectF(400, 400, 200, 200), QColor(255, 0, 0))


def test_overlay_layer_draws_in_level0_coordinates(qtbot, make_view, array_source):
    view = make_view(array_source)
    view.zoom_to_device_downsample(2.0)
    view.center_on(500, 500)
    layer = SquareLayer()
    view.add_overlay(layer)
    pixels = image_to_array(view.render_image())
    wx, wy = view.transform.to_widget(500, 500)
    assert tuple(pixels[int(wy), int(wx)]) == (255, 0, 0)
    ox, oy = view.transform.to_widget(650, 650)
    assert tuple(pixels[int(oy), int(ox)]) != (255, 0, 0)
    viewport, scale = layer.calls[-1]
    assert scale == pytest.approx(0.5)
    assert viewport.contains(QRectF(400, 400, 200, 200))
    layer.visible = False
    pixels = image_to_array(view.render_image())
    assert tuple(pixels[int(wy), int(wx)]) != (255, 0, 0)


def test_new_requests_replace_stale_ones_and_newest_come_first(qtbot):
    source = ArraySource(rgb_pyramid(4096, 4096, 1))
    source.gate = threading.Event()
    loader = TileLoader(source, threads=1)
    loaded: list[tuple[int, int, int]] = []
    loader.tile_ready.connect(lambda key, image, generation: loaded.append(key))
    old = [(0, c, 0) for c in range(8)]
    new = [(0, c, 5) for c in range(4)]
    loader.request(old)
    qtbot.waitUntil(lambda: len(source.reads) == 0 and loader.pending() == 8, timeout=2000)
    loader.request(new)  # the viewport moved on: tiles of row 0 no longer wanted
    source.gate.set()
    qtbot.waitUntil(lambda: loader.pending() == 0, timeout=5000)
    qtbot.waitUntil(lambda: len(loaded) >= 4, timeout=2000)
    assert set(loaded) - set(new) <= {old[0]}  # at most the one read already in progress
    assert set(new) <= set(loaded)
    loader.shutdown()
    source.close()


def test_image_cache_stays_within_its_byte_budget(qtbot, make_view):
    source = ArraySource(rgb_pyramid(4096, 4096, 1), tile=128)
    view = make_view(source, 256, 256)
    budget = 1024 * 1024  # 16 tiles of 128 x 128 RGB32
    view.image_cache.max_bytes = budget
    view.zoom_to_device_downsample(1.0)
    for step in range(10):
        view.center_on(200 + step * 400, 200 + step * 400)
        wait_complete(qtbot, view)
        assert view.image_cache.current_bytes <= budget
    assert len(view.image_cache) <= 16


def test_view_never_blank_while_fine_tiles_load(qtbot, make_view):
    source = ArraySource(rgb_pyramid(4096, 4096, 4))
    view = make_view(source, 400, 400)
    qtbot.waitUntil(lambda: view.overview_image() is not None, timeout=5000)
    source.gate = threading.Event()  # fine tiles now hang
    view.zoom_to_device_downsample(1.0)
    view.center_on(2000, 2000)
    pixels = image_to_array(view.render_image())
    expected = source.levels[0][2000, 2000].astype(int)
    # Red and green are smooth ramps (blue is a fine checkerboard that the overview averages).
    assert np.abs(pixels[200, 200, :2].astype(int) - expected[:2]).max() < 8
    source.gate.set()
    wait_complete(qtbot, view)


def test_missing_fine_tiles_are_drawn_from_the_finest_cached_coarser_tiles(qtbot, make_view):
    base = np.full((8192, 8192, 3), 90, np.uint8)
    red = np.zeros((4096, 4096, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((2048, 2048, 3), np.uint8)
    blue[..., 2] = 255
    # Levels deliberately differ so the test can tell which one a pixel came from.
    source = ArraySource([base, red, blue, blue[::2, ::2].copy()], tile=512)
    view = make_view(source, 400, 400)
    view.zoom_to_device_downsample(2.0)  # level 1 (red); the overview is level 2 (blue)
    view.center_on(4000, 4000)
    wait_complete(qtbot, view)
    source.gate = threading.Event()
    view.zoom_to_device_downsample(1.0)
    pixels = image_to_array(view.render_image())
    assert tuple(pixels[200, 200]) == (255, 0, 0)  # level 1 stands in, not the overview
    view.center_on(7000, 7000)  # no level-1 tile cached here: the overview stands in
    pixels = image_to_array(view.render_image())
    assert tuple(pixels[200, 200]) == (0, 0, 255)
    source.gate.set()
    wait_complete(qtbot, view)
    pixels = image_to_array(view.render_image())
    assert tuple(pixels[200, 200]) == (90, 90, 90)  # level 0 at last


def test_deleting_a_view_stops_its_loader(qtbot, array_source):
    from PySide6.QtCore import QCoreApplication, QEvent

    from tilescope.gui.viewer.slide_view import SlideView

    view = SlideView(array_source)
    loader = view.loader
    view.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    loader.join(timeout_s=5)  # a read in progress finishes, then every worker exits
    assert not any(thread.is_alive() for thread in loader._threads)
    assert loader.pending() == 0
    loader.request([(0, 0, 0)])  # ignored: nobody is listening any more
    assert loader.pending() == 0


class CorruptTileSource(ArraySource):
    """One tile of level 0 cannot be decoded, as in a damaged file."""

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        if (level, x // self.tile, y // self.tile) == (0, 8, 6):
            raise ValueError("JPEG data is corrupt")
        return super()._read_level(level, x, y, width, height)


def test_a_corrupt_tile_is_reported_and_the_rest_still_loads(qtbot, make_view):
    source = CorruptTileSource(rgb_pyramid(4096, 3072, 4))
    view = make_view(source, 800, 600)
    view.zoom_one_to_one()
    with qtbot.waitSignal(view.tile_error, timeout=8000) as error:
        view.center_on(8 * 256 + 128, 6 * 256 + 128)
    assert "in-memory.tif" in error.args[0] and "corrupt" in error.args[0]
    wait_complete(qtbot, view)  # every other tile arrives; the bad one keeps its stand-in
    assert sum(view.image_cache.peek(k) is not None for k in view.needed_tiles()) >= 11
