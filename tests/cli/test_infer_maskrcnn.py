"""End to end: `tilescope infer SLIDE --model nuclei-maskrcnn` writes nucleus outlines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shapely.geometry import box, shape

from tilescope.resources import demo_slide_path

ROI = (800, 800, 300, 300)  # level-0 pixels of CMU-1-Small-Region (0.499 um/px): one tile


def test_infer_maskrcnn_on_the_demo_slide_region(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tilescope",
            "infer",
            str(demo_slide_path()),
            "--model",
            "nuclei-maskrcnn",
            "--out",
            str(out),
            "--roi",
            ",".join(map(str, ROI)),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stderr
    features = json.loads((out / "CMU-1-Small-Region.geojson").read_text())["features"]
    # ~0.0011 nuclei per pixel at 0.5 um/px in this tissue: ~100 in 300 x 300 px.
    assert 40 <= len(features) <= 250
    roi = box(ROI[0], ROI[1], ROI[0] + ROI[2], ROI[1] + ROI[3])
    areas = []
    for feature in features:
        geometry = shape(feature["geometry"])
        assert geometry.geom_type == "Polygon" and geometry.is_valid
        assert roi.buffer(30).contains(geometry)
        assert feature["properties"]["classification"]["name"] == "Nucleus"
        areas.append(geometry.area)
    median_area_um2 = sorted(areas)[len(areas) // 2] * 0.499**2
    assert 8 <= median_area_um2 <= 80, "nucleus-sized outlines (median area in um^2)"
