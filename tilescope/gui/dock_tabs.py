"""Tabbing dock widgets together and restoring a saved dock layout without ghost tab bars.

Qt 6.11's main window layout loses track of some of the tab bars it makes for tabbed docks.
A lost bar keeps its tabs and stays shown where it was last put, and the layout never moves
it again: at the opening size it hides under the real one, after a resize it floats over the
status bar. Two ways to lose one:

- Tabifying while a layout change waits: once the window has a tab bar, making another one
  lays the window out first; that pass re-enters the half-made group, which gets a bar of its
  own that the outer call then replaces. A dock that is already docked is such a change
  (tabifying takes it out of its place), so whichever group is tabbed second lost a bar.
  `tabify` takes the dock out itself and lays out what waits before tabifying.
- QMainWindow.restoreState makes new bars for the restored groups and loses the old ones, so
  `restore_state` hides the bars the layout no longer uses afterwards.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QTabBar

_SETTLE_PASSES = 5


def tabify(window: QMainWindow, first: QDockWidget, second: QDockWidget) -> None:
    """Put `second` in a tab behind `first`, with one tab bar for the group."""
    shown = not second.isHidden()
    if window.dockWidgetArea(second) != Qt.DockWidgetArea.NoDockWidgetArea:
        window.removeDockWidget(second)  # else tabifying takes it out: a change waiting
    settle(window)
    window.tabifyDockWidget(first, second)
    second.setVisible(shown)


def settle(window: QMainWindow) -> None:
    """Lay out the window's waiting changes, until laying out changes nothing more."""
    layout = window.layout()
    for _ in range(_SETTLE_PASSES):  # wrapped labels can ask for a second pass
        if layout is None or not layout.activate():
            return


def restore_state(window: QMainWindow, state: QByteArray | bytes, version: int = 0) -> bool:
    """QMainWindow.restoreState, then hide the tab bars the restored layout left behind."""
    restored = window.restoreState(QByteArray(state), version)
    layout = window.layout()
    if layout is not None:  # a hidden window lays the restored state out only now
        layout.invalidate()
        settle(window)
    hide_unused_tab_bars(window)
    return restored


def dock_tab_bars(window: QMainWindow) -> list[QTabBar]:
    """The shown tab bars of the window's dock groups (not those of its tab widgets)."""
    return [
        bar
        for bar in window.findChildren(QTabBar)
        if bar.parent() is window
        and bar.metaObject().className() == "QMainWindowTabBar"
        and not bar.isHidden()
    ]


def unused_tab_bars(window: QMainWindow) -> list[QTabBar]:
    """The shown dock tab bars the window's layout no longer keeps.

    QMainWindow.setDocumentMode passes the mode to every tab bar its layout keeps: mark all
    bars with the current mode, flip the window's mode there and back, and the bars that
    never flipped are the ones the layout lost.
    """
    bars = dock_tab_bars(window)
    mode = window.documentMode()
    for bar in bars:
        bar.setDocumentMode(mode)
    window.setDocumentMode(not mode)
    lost = [bar for bar in bars if bar.documentMode() == mode]
    window.setDocumentMode(mode)
    return lost


def hide_unused_tab_bars(window: QMainWindow) -> list[QTabBar]:
    """Hide the dock tab bars the layout lost (it never shows or moves them again)."""
    lost = unused_tab_bars(window)
    for bar in lost:
        bar.hide()
    return lost
