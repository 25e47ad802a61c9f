"""The dependency direction gui -> plugins -> engine holds, statically and at run time."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys

import tilescope
from tests.conftest import REPO_ROOT


def test_import_linter_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports") or str(REPO_ROOT / ".venv/bin/lint-imports")
    result = subprocess.run(
        [lint_imports], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_engine_and_plugins_load_without_qt() -> None:
    modules = [
        m.name
        for m in pkgutil.walk_packages(tilescope.__path__, "tilescope.")
        if m.name.startswith(("tilescope.engine", "tilescope.plugins"))
    ]
    assert modules, "no engine modules found"
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'tilescope.gui'))]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
