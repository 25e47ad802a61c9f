"""The log file really receives what support needs: failures with their tracebacks, failed
opens in the window, cancellations; and a log folder that cannot be created stops nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _tilescope(log_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TILESCOPE_LOG_DIR=str(log_dir))
    return subprocess.run(
        [sys.executable, "-m", "tilescope", *args], capture_output=True, text=True, env=env
    )


def test_a_failed_open_is_in_the_log_with_its_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.svs"
    result = _tilescope(tmp_path / "log", "info", str(missing))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    log = (tmp_path / "log" / "tilescope.log").read_text(encoding="utf-8")
    assert f"info failed: {missing}: file not found" in log and "Traceback" in log


def test_a_log_folder_that_cannot_be_created_stops_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _tilescope(blocker / "log", "info", str(tmp_path / "missing.svs"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "file not found" in result.stderr


def test_window_errors_are_logged(qtbot, tmp_path: Path) -> None:
    import logging

    from tilescope.engine.log_setup import enable_file_logging
    from tilescope.gui.main_window import MainWindow

    path = enable_file_logging()
    assert path is not None
    window = MainWindow()
    qtbot.addWidget(window)
    missing = tmp_path / "gone.svs"
    with qtbot.waitSignal(window.error_reported, timeout=10000):
        window.open_paths([missing])
    for handler in logging.getLogger("tilescope").handlers:
        handler.flush()
    log = path.read_text(encoding="utf-8")
    assert f"Cannot open file: {missing}: file not found" in log
    assert f"opening {missing} failed" in log


def test_a_cancelled_command_is_logged(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from tilescope.cli import main as cli\n"
        "import tilescope.cli.info as info\n"
        "def interrupted(args):\n"
        "    raise KeyboardInterrupt\n"  # what Ctrl+C raises in the command
        "info.run = interrupted\n"
        "raise SystemExit(cli.main(['info', 'x.svs']))\n"
    )
    env = dict(os.environ, TILESCOPE_LOG_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 130 and result.stderr.strip() == "tilescope: cancelled"
    assert "info cancelled" in (tmp_path / "tilescope.log").read_text(encoding="utf-8")
