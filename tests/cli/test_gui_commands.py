"""`tilescope`, `tilescope gui PATH`, `tilescope demo`: the real window opens the slides.

Each command runs in its own process: `app.exec()` returning leaves PySide6's QApplication
unable to deliver queued signals from worker threads, which would break every later GUI test
sharing the test process (and a real user runs one event loop per process anyway).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tilescope.resources import demo_slide_path

_DRIVER = textwrap.dedent(
    """
    import json, sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from tilescope.cli.main import main
    from tilescope.gui.app import create_application
    from tilescope.gui.main_window import MainWindow

    argv = json.loads(sys.argv[1])
    expected = int(sys.argv[2])
    create_application()
    opened, waited = [], [0]

    def check():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        tabs = windows[0].slide_tabs() if windows else []
        waited[0] += 50
        if windows and (len(tabs) >= expected or waited[0] > 15000):
            opened.extend(t.path.name for t in tabs)
            windows[0].close()
            QApplication.instance().quit()
            return
        QTimer.singleShot(50, check)

    QTimer.singleShot(50, check)
    status = main(argv)
    print(json.dumps({"status": status, "opened": opened}))
    """
)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], []),
        (["demo"], ["CMU-1-Small-Region.svs"]),
        (["gui", str(demo_slide_path())], ["CMU-1-Small-Region.svs"]),
    ],
)
def test_gui_commands_open_the_window_with_their_slides(argv, expected):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(argv), str(len(expected))],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"status": 0, "opened": expected}
