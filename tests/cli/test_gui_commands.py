"""`tilescope`, `tilescope gui PATH`, `tilescope demo`: the real window opens the slides."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from tilescope.cli.main import main
from tilescope.gui.main_window import MainWindow
from tilescope.resources import demo_slide_path


def _run_and_capture(argv: list[str]) -> list[str]:
    """Run the command; once its window shows the expected tabs (or after 8 s), close it."""
    opened: list[str] = []
    waited = [0]

    def check() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        tabs = windows[0].slide_tabs() if windows else []
        waited[0] += 50
        if windows and (len(tabs) >= expected or waited[0] > 8000):
            opened.extend(t.path.name for t in tabs)
            windows[0].close()
            windows[0].deleteLater()
            QApplication.instance().quit()
            return
        QTimer.singleShot(50, check)

    expected = 0 if argv in ([], ["gui"]) else 1
    QTimer.singleShot(50, check)
    assert main(argv) == 0
    return opened


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], []),
        (["demo"], ["CMU-1-Small-Region.svs"]),
        (["gui", str(demo_slide_path())], ["CMU-1-Small-Region.svs"]),
    ],
)
def test_gui_commands_open_the_window_with_their_slides(qapp, argv, expected):
    assert _run_and_capture(argv) == expected
