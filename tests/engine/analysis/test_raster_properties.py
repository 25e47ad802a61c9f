"""Property: any pixel mask, outlined exactly, rasterises back to the same pixels and area."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tilescope.engine.analysis.raster import rasterize_labels
from tilescope.engine.analysis.shape import shape_features
from tilescope.plugins.nuclick.postprocess import mask_to_geometry


@settings(max_examples=60, deadline=None)
@given(
    mask=arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24))),
    dx=st.integers(-3, 30),
    dy=st.integers(-3, 30),
)
def test_exact_outlines_round_trip(mask: np.ndarray, dx: int, dy: int) -> None:
    if not mask.any():
        return
    outline = mask_to_geometry(mask)  # holes and several parts included
    moved = shapely.transform(outline, lambda xy: xy + np.array([dx, dy]))
    geoms = np.array([moved], dtype=object)
    labels = rasterize_labels(geoms, np.array([7]), (dx, dy), mask.shape)
    assert np.array_equal(labels == 7, mask)
    assert shape_features(geoms)["area_px2"][0] == mask.sum()
