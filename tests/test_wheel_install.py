"""The wheel is what users install: build it, install it without extras into a fresh virtual
environment, and run the installed `tilescope` on the demo slide that ships inside it.

Slow (a full dependency install); pip's cache keeps repeated runs fast, so it is not disabled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.timeout(1800)


def _run(command: list[str | Path], cwd: Path, timeout: float = 1200) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, REPO_ROOT], cwd=REPO_ROOT)
    wheels = list(dist.glob("tilescope-*.whl"))
    assert len(wheels) == 1, wheels
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work)
    python = venv / "bin" / "python"
    # No extras: what `pip install tilescope` gives a user.
    _run([python, "-m", "pip", "install", "--prefer-binary", wheels[0]], cwd=work)
    return venv


def test_installed_tilescope_reads_the_bundled_demo_slide(installed_venv: Path) -> None:
    python = installed_venv / "bin" / "python"
    # Run outside the source tree so that nothing can import the checkout instead.
    outside = installed_venv.parent
    demo = Path(
        _run(
            [python, "-c", "from tilescope.resources import demo_slide_path as p; print(p())"],
            cwd=outside,
        ).strip()
    )
    assert demo.is_file()
    assert installed_venv in demo.parents, f"demo slide not from the installed wheel: {demo}"
    assert REPO_ROOT not in demo.parents

    tilescope = installed_venv / "bin" / "tilescope"
    info = json.loads(_run([tilescope, "info", "--json", demo], cwd=outside))
    assert info["path"] == str(demo)
    assert info["format"] == "aperio"
    assert (info["width"], info["height"]) == (2220, 2967)
    assert info["levels"] == [{"width": 2220, "height": 2967, "downsample": 1.0}]
    assert info["mpp"] == pytest.approx([0.499, 0.499])
    assert info["objective_power"] == 20
    assert (info["channels"], info["dtype"], info["scenes"]) == (3, "uint8", 1)
    assert {"label", "macro", "thumbnail"} <= set(info["associated_images"])

    version = _run([tilescope, "--version"], cwd=outside).strip()
    assert version.startswith("tilescope ") and version != "tilescope 0.0.0+source"

    out = outside / "demo-region.png"
    _run(
        [
            tilescope,
            "region",
            demo,
            "--x",
            100,
            "--y",
            200,
            "--width",
            1000,
            "--height",
            500,
            "--downsample",
            4,
            "-o",
            out,
        ],
        cwd=outside,
    )
    size = _run(
        [python, "-c", f"from PIL import Image; print(*Image.open({str(out)!r}).size)"],
        cwd=outside,
    )
    assert size.split() == ["250", "125"]
