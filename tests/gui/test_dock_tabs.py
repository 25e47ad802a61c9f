"""Tabbed docks of the main window: one tab bar per group, inside its dock area, at any size.

Qt 6.11 left a second "Annotations | Cell Analysis" tab bar where the window first laid it out;
after a resize it showed over the status bar. The same happens to every group after a saved
window state is restored.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QTabBar

from tests.gui.window_helpers import shown_window
from tilescope.gui.dock_tabs import restore_state, tabify
from tilescope.gui.main_window import MainWindow

SIZES = [(1280, 820), (1200, 800), (1600, 1000), (1000, 700), (1280, 820)]


@pytest.fixture
def window(qtbot):
    yield from shown_window(qtbot)


def groups(window: MainWindow) -> dict[tuple[str, ...], list[QDockWidget]]:
    """The window's tab groups, by tab titles, with their docks."""
    return {
        ("Annotations", "Cell Analysis"): [window.annotations.list_dock, window.analysis.dock],
        ("Jobs", "Runs"): [window.ai.jobs_dock, window.ai.runs_dock],
    }


def shown_bars(window: QMainWindow, titles: tuple[str, ...]) -> list[QTabBar]:
    """The visible tab bars on the window itself whose tabs are `titles`."""
    return [
        bar
        for bar in window.findChildren(QTabBar)
        if bar.parent() is window
        and bar.isVisible()
        and tuple(sorted(bar.tabText(i) for i in range(bar.count()))) == titles
    ]


def current(docks: list[QDockWidget]) -> QDockWidget:
    """The dock of a group on show (Qt parks the others outside the window, still 'visible')."""
    (dock,) = [dock for dock in docks if not dock.visibleRegion().isEmpty()]
    return dock


def resize(qtbot, window: QMainWindow, width: int, height: int) -> None:
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.size().toTuple() == (width, height))
    QApplication.processEvents()


def check_tab_bars(window: MainWindow) -> None:
    """Each group shows one tab bar, just under its docks and above the status bar."""
    status = window.statusBar().geometry()
    for titles, docks in groups(window).items():
        bars = shown_bars(window, titles)
        size = window.size().toTuple()
        assert len(bars) == 1, f"{len(bars)} {titles} tab bars at {size}"
        bar = bars[0].geometry()
        shown = current(docks).geometry()
        area = QRect(shown.left(), shown.top(), shown.width(), status.top() - shown.top())
        assert area.contains(bar), f"{titles} bar {bar} outside its dock area {area} at {size}"
        assert not bar.intersects(status), f"{titles} bar {bar} over the status bar at {size}"


def test_each_dock_group_has_one_tab_bar_in_its_area_at_every_size(qtbot, window):
    for width, height in SIZES:
        resize(qtbot, window, width, height)
        check_tab_bars(window)


def test_the_tab_bar_switches_the_docks_of_its_group(qtbot, window):
    docks = groups(window)[("Annotations", "Cell Analysis")]
    assert current(docks) is window.annotations.list_dock
    (bar,) = shown_bars(window, ("Annotations", "Cell Analysis"))
    bar.setCurrentIndex([bar.tabText(i) for i in range(bar.count())].index("Cell Analysis"))
    qtbot.waitUntil(lambda: current(docks) is window.analysis.dock)
    check_tab_bars(window)


def test_a_restored_window_state_leaves_no_stale_tab_bar(qtbot, window):
    resize(qtbot, window, 1400, 900)
    state = window.saveState()
    resize(qtbot, window, 1200, 800)
    assert restore_state(window, state)
    for width, height in SIZES:
        resize(qtbot, window, width, height)
        check_tab_bars(window)


def test_restoring_regrouped_docks_leaves_no_stale_tab_bar(qtbot, window):
    state = window.saveState()
    tabify(window, window.ai.jobs_dock, window.analysis.dock)  # Cell Analysis to the left
    QApplication.processEvents()
    assert shown_bars(window, ("Annotations", "Cell Analysis")) == []
    assert len(shown_bars(window, ("Cell Analysis", "Jobs", "Runs"))) == 1
    assert restore_state(window, state)
    for width, height in SIZES:
        resize(qtbot, window, width, height)
        check_tab_bars(window)
        assert shown_bars(window, ("Cell Analysis", "Jobs", "Runs")) == []


def test_a_state_restored_before_showing_leaves_no_stale_tab_bar(qtbot, window):
    state = window.saveState()
    fresh = MainWindow()
    qtbot.addWidget(fresh)
    assert restore_state(fresh, state)
    fresh.show()
    for width, height in SIZES:
        resize(qtbot, fresh, width, height)
        check_tab_bars(fresh)
