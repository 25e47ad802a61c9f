"""Smoke test of the frozen one-folder app: libraries and bundled data really travel with it.

Builds with packaging/build_linux.sh (PyInstaller, ~30 s) and runs the frozen executable with
an environment that has no Python packages on its path.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

pytestmark = [
    pytest.mark.skipif(
        platform.system() != "Linux", reason="the Linux build script builds Linux bundles only"
    ),
    pytest.mark.timeout(1200),  # the PyInstaller build runs inside the first test's fixture
]


@pytest.fixture(scope="module")
def frozen_app() -> Path:
    result = subprocess.run(
        [
            str(REPO_ROOT / "packaging" / "build_linux.sh"),
            "--python",
            sys.executable,
            "--no-archives",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    exe = REPO_ROOT / "dist" / "tilescope" / "tilescope"
    assert exe.is_file()
    return exe


def _run_frozen(exe: Path, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "QT_QPA_PLATFORM": "offscreen",
        "TILESCOPE_DATA_DIR": str(tmp_path / "data"),
        "TILESCOPE_CONFIG_DIR": str(tmp_path / "config"),
        "TILESCOPE_CACHE_DIR": str(tmp_path / "cache"),
        "TILESCOPE_LOG_DIR": str(tmp_path / "log"),
    }
    return subprocess.run(
        [str(exe), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )


def test_frozen_version_and_info(frozen_app: Path, tmp_path: Path) -> None:
    version = _run_frozen(frozen_app, "--version", tmp_path=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("tilescope "), version.stderr
    demo = _demo_slide(frozen_app)
    info = _run_frozen(frozen_app, "info", "--json", str(demo), tmp_path=tmp_path)
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert (data["width"], data["height"]) == (2220, 2967)
    assert data["mpp"] == pytest.approx([0.499, 0.499])


def _demo_slide(exe: Path) -> Path:
    return next((exe.parent / "_internal").rglob("CMU-1-Small-Region.svs"))


def test_frozen_screenshot_renders_the_viewer(frozen_app: Path, tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    result = _run_frozen(
        frozen_app,
        "screenshot",
        str(_demo_slide(frozen_app)),
        "-o",
        str(out),
        "--size",
        "400x300",
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    from PIL import Image

    image = Image.open(out)
    assert image.size == (400, 300)
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 100  # slide pixels, not a blank frame


def test_frozen_infer_runs_a_bundled_model(frozen_app: Path, tmp_path: Path) -> None:
    result = _run_frozen(
        frozen_app,
        "infer",
        str(_demo_slide(frozen_app)),
        "--model",
        "nuclei-maskrcnn",
        "--roi",
        "800,800,512,512",
        "--out",
        str(tmp_path / "out"),
        "--no-store",
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    features = json.loads((tmp_path / "out" / "CMU-1-Small-Region.geojson").read_text())
    assert len(features["features"]) > 5


def test_frozen_errors_stay_one_line(frozen_app: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.svs"
    broken.write_bytes(os.urandom(4096))
    result = _run_frozen(frozen_app, "info", str(broken), tmp_path=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "broken.svs" in result.stderr
