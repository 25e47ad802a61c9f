"""PySide6-Essentials 6.12.0 aborts Python 3.11 after a few thousand calls that return None or
bool (a refcount bug in bool_dealloc). The viewer makes such calls on every frame, so the pinned
version must survive a long loop of them; a crash would kill the interpreter, hence a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

LOOP = textwrap.dedent(
    """
    import PySide6
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QApplication, QWidget

    class Emitter(QObject):
        changed = Signal(int)

    app = QApplication([])
    widget = QWidget()
    widget.resize(64, 64)
    tile = QImage(16, 16, QImage.Format.Format_RGB32)
    tile.fill(0xFF336699)
    target = QImage(64, 64, QImage.Format.Format_RGB32)
    emitter = Emitter()
    received = []
    emitter.changed.connect(received.append)
    painter = QPainter(target)
    nones = bools = 0
    for i in range(30000):
        nones += painter.drawImage(i % 48, (i // 48) % 48, tile) is None
        nones += widget.update() is None
        bools += isinstance(emitter.changed.emit(i), bool)
        bools += isinstance(tile.isNull(), bool)
    painter.end()
    assert nones == 60000 and bools == 60000 and len(received) == 30000
    print("survived", PySide6.__version__)
    """
)


def test_pinned_pyside_survives_many_none_and_bool_returns():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-c", LOOP], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert result.stdout.startswith("survived 6.11.3"), result.stdout
