"""QApplication set-up (high-DPI, names, style) and the `tilescope gui` event loop."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from tilescope import __version__


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    """The one QApplication, created once (tests and the CLI share this set-up)."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    # Fractional scale factors (150 %) as they are: tiles are drawn at device pixels anyway.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    QCoreApplication.setOrganizationName("tilescope")
    QCoreApplication.setApplicationName("tilescope")
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setStyle("Fusion")
    return app


def run_app(paths: Sequence[str | Path] = ()) -> int:
    """Open the main window with `paths` and run until it is closed.

    An exception escaping a slot or paintEvent is logged and shown in a dialog; the window
    keeps running (see crash_handler).
    """
    app = create_application()
    from tilescope.gui import crash_handler
    from tilescope.gui.main_window import MainWindow

    crash_handler.install(app)

    window = MainWindow()
    window.show()
    window.open_paths(paths)
    return app.exec()
