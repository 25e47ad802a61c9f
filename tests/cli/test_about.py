"""`tilescope about` and Help > About: versions and the providers inference will really use."""

from __future__ import annotations

import json
import subprocess
import sys

from PySide6.QtWidgets import QApplication, QMessageBox


def test_about_json_lists_versions_and_usable_providers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tilescope", "about", "--json"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # probing providers must not print library errors
    info = json.loads(result.stdout)
    assert info["openslide"].startswith("4.")
    assert info["qt"] and info["onnxruntime"]
    usable, built = info["onnxruntime_providers"], info["onnxruntime_providers_built"]
    assert usable[-1] == "CPUExecutionProvider" and set(usable) <= set(built)


def test_help_about_shows_the_versions(qtbot) -> None:
    from tilescope.gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.actions_.about.trigger()

    def box() -> QMessageBox | None:
        found = [w for w in QApplication.topLevelWidgets() if w.objectName() == "about-tilescope"]
        return found[0] if found else None  # type: ignore[return-value]

    qtbot.waitUntil(lambda: box() is not None, timeout=10000)
    text = box().text()
    assert "OpenSlide" in text and "ONNX Runtime" in text and "CPUExecutionProvider" in text
    box().close()


def test_about_without_package_metadata_still_names_the_versions() -> None:
    """A frozen app may carry no dist-info: versions come from the modules themselves."""
    script = (
        "import importlib.metadata as m\n"
        "def missing(name):\n"
        "    raise m.PackageNotFoundError(name)\n"
        "m.version = missing\n"  # as in a PyInstaller bundle without metadata
        "from tilescope.cli.main import main\n"
        "raise SystemExit(main(['about', '--json']))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    import numpy
    import openslide
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion

    assert info["qt"] == qVersion() and info["pyside6"] == pyside_version
    assert info["openslide-python"] == openslide.__version__
    assert info["numpy"] == numpy.__version__ and info["tifffile"] and info["zarr"]
    assert None not in (info["openslide"], info["onnxruntime"])
