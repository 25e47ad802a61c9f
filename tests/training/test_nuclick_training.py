"""NuClick training data preparation (numpy only: runs everywhere, torch or not)."""

from __future__ import annotations

import numpy as np

from tests.conftest import shared_file
from tilescope.training.nuclick import data


def test_label_downscale_takes_the_block_majority() -> None:
    labels = np.array(
        [
            [1, 1, 2, 0],
            [1, 3, 2, 2],
            [0, 0, 5, 5],
            [0, 4, 6, 7],
        ]
    )
    assert data.downscale_labels(labels, 2).tolist() == [[1, 2], [0, 5]]


def test_rgb_downscale_is_an_area_average() -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2, :2] = [0, 100, 200]
    rgb[0, 0] = [40, 140, 240]
    out = data.downscale_rgb(rgb, 2)
    assert out.shape == (2, 2, 3) and out[0, 0].tolist() == [10, 110, 210]


def test_tiles_come_at_the_model_resolution() -> None:
    root = shared_file("nuclei")
    image08 = data.load_tile(root, "image08")  # 40x -> 20x
    assert image08.rgb.shape == (298, 399, 3) and image08.scale == 2
    assert len(data.object_centres(image08.labels)) == 251  # no nucleus lost
    image01 = data.load_tile(root, "image01")  # already 20x
    assert image01.rgb.shape == (488, 643, 3) and image01.scale == 1


def test_objects_hold_clicks_inside_and_neighbours_outside() -> None:
    root = shared_file("nuclei")
    objects = data.build_objects([data.load_tile(root, "cryonuseg")], seed=0)
    nuclei = ~objects.is_cluster
    assert nuclei.sum() == 59 and objects.is_cluster.sum() > 0
    half = data.CROP // 2
    for k in np.nonzero(nuclei)[0]:
        cols = objects.clicks[k, :, 0].astype(int)
        rows = objects.clicks[k, :, 1].astype(int)
        assert objects.mask[k, rows, cols].all()  # every click candidate lies inside
        assert objects.mask[k, half - 15 : half + 16, half - 15 : half + 16].any()
        assert objects.squiggle[k].any()
    near = objects.exclusion[..., 0] > -1e3
    assert near.any()
    k, e = np.argwhere(near)[0]
    x, y = objects.exclusion[k, e].astype(int)
    assert not objects.mask[k, y, x]  # a neighbour's click is never on the object
