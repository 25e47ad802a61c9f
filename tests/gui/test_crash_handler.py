"""The window's last resort: an exception in paintEvent, a slot or a worker thread is logged
with its traceback and shown in a non-blocking dialog, and the application keeps running.

Runs in its own process: the handler replaces sys.excepthook and the event loop is real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

_DRIVER = textwrap.dedent(
    """
    import json, logging, sys, threading
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QPushButton, QWidget
    from tilescope.engine.log_setup import enable_file_logging
    from tilescope.gui import crash_handler
    from tilescope.gui.app import create_application

    log_path = enable_file_logging()
    app = create_application()
    reporter = crash_handler.install(app)
    shown, ticks = [], [0]
    reporter.shown.connect(shown.append)

    class Broken(QWidget):
        paints = 0

        def paintEvent(self, event):
            Broken.paints += 1
            raise ValueError("cannot convert float NaN to integer")

    broken = Broken()
    broken.resize(200, 100)
    broken.show()
    button = QPushButton("go")

    def slot():
        raise ZeroDivisionError("division by zero in a slot")

    button.clicked.connect(slot)

    def worker():
        raise OSError(28, "No space left on device")

    def step():
        ticks[0] += 1
        if ticks[0] in (2, 3):
            broken.update()  # painted by the event loop: the same error twice, one dialog
        if ticks[0] == 4:
            QTimer.singleShot(0, button.click)  # the slot runs from the event loop
            threading.Thread(target=worker, name="tile-worker").start()
        if ticks[0] > 40:
            dialogs = [w for w in QApplication.topLevelWidgets()
                       if w.objectName() == "tilescope-crash-dialog" and w.isVisible()]
            print(json.dumps({
                "shown": shown,
                "paints": Broken.paints,
                "dialogs": len(dialogs),
                "modal": bool(dialogs and dialogs[0].isModal()),
                "ticks": ticks[0],
                "log": str(log_path),
            }))
            app.quit()
            return
        QTimer.singleShot(20, step)

    QTimer.singleShot(20, step)
    app.exec()
    """
)


def test_uncaught_errors_are_logged_and_shown_and_the_app_keeps_running(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TILESCOPE_LOG_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", _DRIVER], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ticks"] > 40  # the event loop ran on after every error
    assert report["paints"] >= 2
    shown = report["shown"]
    assert shown[0] == "Unexpected ValueError: cannot convert float NaN to integer"
    assert shown.count(shown[0]) == 1  # a repeated paint error is not shown again
    assert "Unexpected ZeroDivisionError: division by zero in a slot" in shown
    assert "disk full" in shown  # the true cause, not "Unexpected OSError"
    assert report["dialogs"] == 1 and report["modal"] is False  # one box, never blocking
    log = Path(report["log"]).read_text(encoding="utf-8")
    assert "Traceback" in log and "paintEvent" in log and "def slot" not in log
    assert "in slot" in log and "thread tile-worker" in log
    assert "Traceback" not in result.stderr  # nothing for a terminal nobody reads
