"""engine/inference/probability_pyramid.py reads, by viewport, the map that
stitching.ProbabilityZarr writes (both in the engine: one owner of the OME-Zarr layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tilescope.engine.errors import TilescopeError
from tilescope.engine.inference.probability_pyramid import HeatmapError, ProbabilityPyramid
from tilescope.engine.inference.stitching import ProbabilityZarr
from tilescope.engine.inference.types import TileInfo

DOWNSAMPLE = 2.0
MAP_W, MAP_H = 1500, 1100  # map pixels: over 512 so the writer builds coarser levels


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A two-class map, class 1 a ramp along x, class 0 a bright block; returns the truth."""
    probabilities = np.zeros((2, MAP_H, MAP_W), np.float32)
    probabilities[1] = np.linspace(0.0, 1.0, MAP_W)[None, :]
    probabilities[0, 100:300, 200:600] = 1.0
    out = tmp_path / "run.zarr"
    writer = ProbabilityZarr(
        out,
        (int(MAP_W * DOWNSAMPLE), int(MAP_H * DOWNSAMPLE)),
        DOWNSAMPLE,
        2,
        (0.5, 0.5),
        ["tumour", "stroma"],
    )
    tile = TileInfo(0, 0.0, 0.0, MAP_W, MAP_H, DOWNSAMPLE, (0, 0, MAP_W, MAP_H))
    writer.write_tile(tile, probabilities)
    writer.finish()
    truth = np.rint(probabilities.max(axis=0) * 255).astype(np.uint8)
    return out, truth


def test_a_viewport_reads_the_strongest_class_at_level_zero(written):
    path, truth = written
    pyramid = ProbabilityPyramid(path)
    assert pyramid.base_downsample == DOWNSAMPLE
    assert pyramid.channel_names == ["tumour", "stroma"]
    assert len(pyramid.levels) >= 2
    window = pyramid.read(400.0, 200.0, 1400.0, 700.0, level=0)  # level-0 slide pixels
    assert window.level == 0
    assert window.rect == (400.0, 200.0, 1000.0, 500.0)
    assert np.array_equal(window.pixels, truth[100:350, 200:700])


def test_coarser_views_read_coarser_levels_and_reads_clip_to_the_map(written):
    path, _ = written
    pyramid = ProbabilityPyramid(path)
    assert pyramid.level_for(DOWNSAMPLE) == 0
    assert pyramid.level_for(DOWNSAMPLE * 2) == 1
    assert pyramid.level_for(1e6) == len(pyramid.levels) - 1
    window = pyramid.read(-500.0, -500.0, 1e9, 1e9, level=1)
    height, width = pyramid.levels[1].shape[1:]
    assert window.pixels.shape == (height, width)
    assert window.rect[:2] == (0.0, 0.0)
    empty = pyramid.read(1e8, 1e8, 2e8, 2e8, level=0)
    assert empty.pixels.size == 0


def test_a_folder_that_is_no_map_is_one_clear_error(tmp_path):
    with pytest.raises(HeatmapError, match="not a tilescope probability map") as raised:
        ProbabilityPyramid(tmp_path / "missing.zarr")
    assert isinstance(raised.value, TilescopeError)
    assert str(tmp_path / "missing.zarr") in str(raised.value)
