"""A shown main window for the GUI tests, and opening a file in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tilescope.gui.main_window import MainWindow


def shown_window(qtbot) -> Iterator[MainWindow]:
    """Body of a test module's `window` fixture: the window closes after the test."""
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()


def open_and_wait(qtbot, window: MainWindow, path: Path) -> None:
    """Open `path` in a new tab and wait until its annotation session is ready."""
    count = len(window.slide_tabs())
    window.open_paths([path])
    qtbot.waitUntil(
        lambda: len(window.slide_tabs()) == count + 1 and window.annotations.current() is not None,
        timeout=10000,
    )
