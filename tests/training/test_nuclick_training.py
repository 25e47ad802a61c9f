"""NuClick training data from the shared corpus (numpy only: runs everywhere, torch or not)."""

from __future__ import annotations

import numpy as np

from tests.conftest import shared_file
from tilescope.training.corpus.sources import CorpusTile, read_labels, read_rgb
from tilescope.training.nuclick import data


def _image01() -> data.Tile:
    """MICCAI 2015 image01: 20x, so already at the model's 0.5 um/px."""
    folder = shared_file("nuclei", "miccai2015")
    rgb, labels = read_rgb(folder / "image01.png"), read_labels(folder / "image01_label.png")
    return data.Tile("miccai2015/image01", "miccai2015", rgb, labels)


def _corpus_tile(source: str, organ: str, size: int, nuclei: int, name: str) -> CorpusTile:
    labels = np.zeros((size, size), np.int32)
    for k in range(nuclei):
        r, c = divmod(k, size // 8)
        labels[r * 8 + 2 : r * 8 + 6, c * 8 + 2 : c * 8 + 6] = k + 1
    image = np.full((size, size, 3), 200, np.uint8)
    return CorpusTile(source, name, organ, name, image, labels, 0.5, False)


def test_object_budget_follows_the_group_weights_not_the_tile_count() -> None:
    big = _corpus_tile("gbm40_emory", "brain", 400, 900, "big")
    small = [_corpus_tile("dsb2018_stage1_histo", "mixed", 100, 100, f"s{k}") for k in range(4)]
    budget = data.object_budget([big, *small], total=1000)
    dsb = sum(v for k, v in budget.items() if k.startswith("dsb"))
    gbm = budget["gbm40_emory/big"]
    # sqrt-area weights: gbm 160,000 px -> 400, dsb 4 x 10,000 px -> 200 (1/3 of the total).
    assert abs(gbm - 667) <= 2 and abs(dsb - 333) <= 4, budget
    assert sum(budget.values()) <= 1004


def test_objects_hold_clicks_inside_and_neighbours_outside() -> None:
    tile = _image01()
    objects = data.build_objects([tile], seed=0, budget={tile.name: 60})
    nuclei = ~objects.is_cluster
    assert nuclei.sum() == 51 and objects.is_cluster.sum() == 9  # 15 % merged groups
    assert set(objects.source) == {"miccai2015"}
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


def test_without_a_budget_every_nucleus_is_cropped() -> None:
    tile = _image01()
    objects = data.build_objects([tile], seed=0)
    count = len(data.object_centres(tile.labels))
    assert (~objects.is_cluster).sum() == count > 300
