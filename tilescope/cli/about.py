"""`tilescope about [--json]`: versions of tilescope, Qt, OpenSlide, ONNX Runtime, providers."""

from __future__ import annotations

import argparse

from tilescope.engine.about import about
from tilescope.engine.json_output import dumps
from tilescope.engine.log_setup import log_file_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("about", help="print library versions and execution providers")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def qt_versions() -> tuple[str | None, str | None]:
    """(Qt, PySide6) versions from the libraries themselves: no package metadata needed."""
    try:
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion

        return str(qVersion()), str(pyside_version)
    except Exception:  # a broken Qt installation must not break About
        return None, None


def run(args: argparse.Namespace) -> int:
    info = about()
    qt, pyside = qt_versions()
    info["qt"] = qt or info.get("qt")
    info["pyside6"] = pyside
    info["log_file"] = str(log_file_path())
    if args.json:
        print(dumps(info))
        return 0
    for key, value in info.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"{key:28} {shown}")
    return 0
