"""The main window: opening by path, menu, drag and drop; tabs; recent files; errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from tilescope.gui.main_window import MainWindow
from tilescope.gui.recent_files import RecentFiles, RecentFilesMenu
from tilescope.gui.viewer.slide_tab import SlideTab


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)  # closed after the test: closing closes every slide
    win.show()
    return win


def _open(qtbot, window: MainWindow, *paths: Path) -> None:
    count = window.tabs.count()
    window.open_paths(paths)
    qtbot.waitUntil(lambda: window.tabs.count() == count + len(paths), timeout=8000)


def test_opens_slides_in_tabs_each_with_its_own_view(
    qtbot, window, demo_path, multichannel_ome_tiff
):
    _open(qtbot, window, demo_path)
    _open(qtbot, window, multichannel_ome_tiff)
    tabs = window.slide_tabs()
    assert [t.path.name for t in tabs] == ["CMU-1-Small-Region.svs", "fluo.ome.tif"]
    assert tabs[0].view is not tabs[1].view
    assert window.current_tab() is tabs[1]
    assert tabs[1].channels is not None and tabs[0].channels is None
    window.tabs.setCurrentIndex(0)
    tabs[0].view.zoom_to_magnification(5)
    assert window.status.zoom.text() == "5.0x"
    assert window.windowTitle().startswith("CMU-1-Small-Region.svs")
    source = tabs[0].view.source
    window.close_tab(0)
    assert window.tabs.count() == 1
    qtbot.waitUntil(lambda: source.closed, timeout=5000)  # closed in the background


def test_bad_file_shows_an_error_and_the_app_keeps_running(qtbot, window, tmp_path, demo_path):
    broken = tmp_path / "broken.svs"
    broken.write_bytes(b"this is not a slide" * 100)
    with qtbot.waitSignal(window.error_reported, timeout=8000) as signal:
        window.open_paths([broken])
    assert str(broken) in signal.args[0]
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1
    assert str(broken) in boxes[0].text()
    assert boxes[0].icon() == QMessageBox.Icon.Critical
    boxes[0].close()  # the test closes it, as a user would
    assert window.tabs.count() == 0
    _open(qtbot, window, demo_path)  # still alive and working
    assert window.current_tab().path == demo_path


def test_missing_file_names_the_file(qtbot, window, tmp_path):
    missing = tmp_path / "nowhere.ndpi"
    with qtbot.waitSignal(window.error_reported, timeout=8000) as signal:
        window.open_paths([missing])
    assert str(missing) in signal.args[0] and "not found" in signal.args[0]
    for box in window.findChildren(QMessageBox):
        box.close()


def test_drag_and_drop_of_files_opens_them(qtbot, window, demo_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(demo_path))])
    enter = QDragEnterEvent(
        QPoint(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, drop)
    qtbot.waitUntil(lambda: window.tabs.count() == 1, timeout=8000)
    assert isinstance(window.current_tab(), SlideTab)


def test_drag_of_non_file_urls_is_refused(qtbot, window):
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.org/slide.svs")])
    enter = QDragEnterEvent(
        QPoint(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter.ignore()
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


def test_recent_files_are_persisted_and_reopen(qtbot, window, demo_path, tmp_path):
    _open(qtbot, window, demo_path)
    assert RecentFiles().paths()[0] == str(demo_path.resolve())
    settings_files = list(Path(__import__("os").environ["TILESCOPE_CONFIG_DIR"]).glob("*.ini"))
    assert settings_files and "CMU-1-Small-Region.svs" in settings_files[0].read_text()
    menu = window.findChild(RecentFilesMenu)
    menu.rebuild()
    entries = [a for a in menu.actions() if a.data() == str(demo_path.resolve())]
    assert len(entries) == 1
    entries[0].trigger()
    qtbot.waitUntil(lambda: window.tabs.count() == 2, timeout=8000)


def test_associated_images_dialog_shows_label_macro_thumbnail(qtbot, window, demo_path):
    _open(qtbot, window, demo_path)
    assert window.actions_.associated_images.isEnabled()
    dialog = window.show_associated_images()
    assert set(dialog.labels) == {"label", "macro", "thumbnail"}

    def loaded() -> bool:
        return all(not label.pixmap().isNull() for label in dialog.labels.values())

    qtbot.waitUntil(loaded, timeout=8000)
    label: QLabel = dialog.labels["macro"]
    assert (label.pixmap().width(), label.pixmap().height()) == (1280, 431)
    dialog.close()


def test_menu_zoom_actions_drive_the_current_view(qtbot, window, demo_path):
    _open(qtbot, window, demo_path)
    view = window.current_view()
    window.actions_.one_to_one.trigger()
    assert view.transform.device_downsample == pytest.approx(1.0)
    window.actions_.magnifications[5.0].trigger()
    assert view.magnification() == pytest.approx(5.0)
    window.actions_.fit.trigger()
    assert view.transform.downsample > 2


def test_two_files_opened_at_once_each_get_their_best_reader(
    qtbot, window, demo_path, multichannel_ome_tiff
):
    _open(qtbot, window, demo_path, multichannel_ome_tiff)
    by_name = {tab.path.name: tab for tab in window.slide_tabs()}
    fluo = by_name["fluo.ome.tif"].view.source.metadata
    assert fluo.channels == 3 and fluo.dtype == "uint16" and fluo.mpp == (0.65, 0.65)


def test_background_tabs_keep_only_a_small_share_of_their_image_cache(
    qtbot, window, demo_path, tmp_path
):
    import tifffile

    from tests.gui.conftest import rgb_pyramid

    big = tmp_path / "big.tif"  # larger than the overview: its view needs tiles at 1:1
    with tifffile.TiffWriter(big) as tif:
        for level in rgb_pyramid(4096, 3200, 2):
            tif.write(level, tile=(256, 256), photometric="rgb")
    _open(qtbot, window, big)
    view = window.current_view()
    view.zoom_one_to_one()
    qtbot.waitUntil(view.is_complete, timeout=8000)
    assert view.image_cache.current_bytes > 0
    view.image_cache.max_bytes = 2 * view.image_cache.current_bytes
    _open(qtbot, window, demo_path)  # the new tab hides the first one
    assert view.image_cache.current_bytes <= view.image_cache.max_bytes // 8


def test_status_bar_shows_cursor_position_magnification_and_loading(qtbot, window, demo_path):
    from PySide6.QtCore import QPoint

    _open(qtbot, window, demo_path)
    view = window.current_view()
    view.zoom_one_to_one()
    view.center_on(1000, 1200)
    center = QPoint(view.width() // 2, view.height() // 2)
    qtbot.mouseMove(view, center)
    x, y = view.transform.to_level0(center.x(), center.y())
    text = window.status.position.text()
    assert f"x {x:,.0f}" in text and f"y {y:,.0f} px" in text
    assert f"({x * 0.499:,.1f}, {y * 0.499:,.1f} µm)" in text
    assert window.status.zoom.text() == "20.0x"
    view.loading_changed.emit(3)  # what the loader reports while tiles are on their way
    assert window.status.loading.text() == "Loading 3 tiles…"
