"""`tilescope annotations convert|stats` end to end, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_file
from tilescope.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def test_stats_on_imagescope_uses_its_pixel_size(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_file("annotations", "imagescope_TCGA-EJ-5518.xml")
    assert main(["annotations", "stats", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "imagescope" and summary["objects"] == 4
    cap = summary["classes"]["CaP"]
    assert cap["count"] == 2
    # ImageScope's own AreaMicrons values for the two CaP regions.
    assert cap["area_um2"] == pytest.approx(1844565.8 + 40712405.8, rel=1e-4)


def test_stats_text_and_mpp_option(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_file("annotations", "asap_tumor_013.xml")
    assert main(["annotations", "stats", str(path), "--mpp", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "5 objects" in out and "um^2" in out and "artifact" in out


@pytest.mark.parametrize(
    ("name", "extension", "expected"),
    [
        ("out.geojson", None, "geojson"),
        ("out.xml", None, "asap"),
        ("out.csv", None, None),
        ("scope.xml", "imagescope", "imagescope"),
    ],
)
def test_convert(tmp_path: Path, capsys, name: str, extension: str | None, expected) -> None:
    source = shared_file("annotations", "qupath_0.2_tumor.geojson")
    out = tmp_path / name
    argv = ["annotations", "convert", str(source), str(out)]
    if extension:
        argv += ["--to", extension]
    assert main(argv) == 0
    assert out.exists()
    if expected:
        assert main(["annotations", "stats", str(out), "--json"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert json.loads(lines[-1])["format"] == expected
    else:
        header = out.read_text(encoding="utf-8").splitlines()[0]
        assert header.startswith("id,name,class")


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "cut.geojson"
    bad.write_text('[{"type": "Feature", "geometry": {"type": "Polygon"', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "tilescope", "annotations", "stats", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert str(bad) in result.stderr and "truncated JSON" in result.stderr


def test_unknown_output_extension(tmp_path: Path, capsys) -> None:
    source = shared_file("annotations", "asap_tumor_013.xml")
    assert main(["annotations", "convert", str(source), str(tmp_path / "out.bin")]) == 2
    assert "--to" in capsys.readouterr().err
