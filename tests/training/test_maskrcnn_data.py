"""The nuclei Mask R-CNN training data and metrics (numpy only: run in CI without torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_file
from tilescope.training.maskrcnn.data import (
    build_crop_pool,
    downscale_area,
    downscale_labels,
    load_tiles,
    split_train_holdout,
)
from tilescope.training.maskrcnn.metrics import instance_scores, label_image


@pytest.fixture(scope="module")
def tiles():  # type: ignore[no-untyped-def]
    return load_tiles(Path(shared_file("nuclei", "miccai2015", "image01.png")).parents[1])


def test_tiles_are_brought_to_one_magnification(tiles) -> None:  # type: ignore[no-untyped-def]
    by_name = {t.name: t for t in tiles}
    assert by_name["image01"].image.shape == (488, 643, 3)  # 20x: as is
    assert by_name["image08"].image.shape == (298, 399, 3)  # 40x: halved
    # Nuclei sizes agree after the downscale (median areas within a factor 1.6).
    medians = []
    for tile in tiles:
        areas = np.bincount(tile.labels.ravel())[1:]
        medians.append(np.median(areas[areas > 0]))
    assert max(medians) / min(medians) < 1.6


def test_held_out_part_is_never_in_training(tiles) -> None:  # type: ignore[no-untyped-def]
    train, holdout = split_train_holdout(tiles)
    left = next(t for t in train if t.name == "image01-left")
    assert left.image.shape[1] + holdout.image.shape[1] == 643
    assert holdout.image.shape == (488, 257, 3)
    assert len(np.unique(holdout.labels)) - 1 == 133


def test_downscale_helpers() -> None:
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    small = downscale_area(image, 2)
    assert small.shape == (2, 2, 3)
    assert small[0, 0, 0] == round(np.mean(image[:2, :2, 0]))
    labels = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 0, 0], [3, 3, 0, 0]])
    np.testing.assert_array_equal(downscale_labels(labels, 2), [[1, 2], [3, 0]])


def test_crop_pool_is_reproducible_and_clean(tiles) -> None:  # type: ignore[no-untyped-def]
    train, _ = split_train_holdout(tiles)
    a = build_crop_pool(train, 6, 96, np.random.default_rng(3))
    b = build_crop_pool(train, 6, 96, np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    images, labels = a
    assert images.shape == (6, 3, 96, 96) and images.dtype == np.uint8
    assert labels.shape == (6, 96, 96)
    counts = np.bincount(labels.ravel())
    assert (counts[1:][counts[1:] > 0] >= 6).all(), "fragments under 6 px are dropped"


def test_metrics_on_known_label_images() -> None:
    truth = np.zeros((40, 40), np.int32)
    truth[2:12, 2:12] = 1
    truth[20:30, 20:30] = 2
    perfect = instance_scores(truth, truth * 7)
    assert perfect.f1 == 1.0 and perfect.aji == 1.0
    shifted = np.zeros_like(truth)
    shifted[2:12, 5:15] = 1  # IoU 70/130 with object 1
    half = instance_scores(truth, shifted)
    assert half.f1 == pytest.approx(2 / 3)  # 1 TP, 0 FP, 1 FN
    assert half.aji == pytest.approx(70 / (130 + 100))


def test_label_image_gives_pixels_to_higher_scores() -> None:
    masks = np.zeros((2, 10, 10), bool)
    masks[0, :, :6] = True
    masks[1, :, 4:] = True
    labels = label_image(masks, np.array([0.6, 0.9]), (10, 10))
    assert (labels[:, 4:] == 1).all() and (labels[:, :4] == 2).all()
