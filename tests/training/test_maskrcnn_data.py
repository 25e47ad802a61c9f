"""The Mask R-CNN training crops on the shared corpus (numpy only: runs in CI without torch)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_file
from tilescope.training.corpus.sampler import sampling_group, source_weights
from tilescope.training.corpus.sources import MODEL_MPP, CorpusTile, equivalent_diameters
from tilescope.training.corpus.split import HOLDOUT_SOURCES
from tilescope.training.maskrcnn.data import (
    FAR_FROM_NUCLEI_UM,
    MIN_FRAGMENT_AREA,
    SCALE_RANGE,
    TARGET_MPP,
    CropPool,
    centred_window,
    channel_stats,
    far_pixels,
    load_split,
)

SIZE = 96


@pytest.fixture(scope="module")
def split():  # type: ignore[no-untyped-def]
    data = Path(shared_file("nuclei", "monuseg_train", "source.json")).parents[1]
    lines: list[str] = []
    result = load_split(data, lines.append)
    assert any("scale estimate" in line for line in lines), "estimates go to the training log"
    return result


@pytest.fixture(scope="module")
def pool(split) -> CropPool:  # type: ignore[no-untyped-def]
    return CropPool(split.train, SIZE, np.random.default_rng(0))


@pytest.fixture(scope="module")
def crops(pool: CropPool) -> list:
    return [pool.sample() for _ in range(600)]


def test_held_out_tiles_are_never_in_the_pool(split, pool: CropPool, crops: list) -> None:  # type: ignore[no-untyped-def]
    held = {t.key for t in split.holdout}
    held_slides = {t.slide for t in split.holdout}
    assert held and {t.key for t in pool.tiles}.isdisjoint(held)
    assert {t.slide for t in pool.tiles}.isdisjoint(held_slides)
    drawn = {c.tile.key for c in crops}
    assert drawn.isdisjoint(held)
    assert not any(c.tile.source in HOLDOUT_SOURCES for c in crops)
    # The old "held-out" tile was a part of a training slide; image01 now trains whole.
    assert "miccai2015/image01" in {t.key for t in pool.tiles}


def test_crops_follow_the_per_group_weights(pool: CropPool, crops: list) -> None:
    weights = source_weights(pool.tiles)
    assert pool.weights == weights and len(weights) >= 6
    assert max(weights.values()) < 0.25, "no group dominates"
    counts = Counter(sampling_group(c.tile) for c in crops)
    for group, weight in weights.items():
        share = counts[group] / len(crops)
        # 600 draws: the binomial standard deviation is at most 0.02
        assert abs(share - weight) < 0.06, (group, share, weight)


def test_hard_negatives_have_no_nucleus_at_their_centre(pool: CropPool, crops: list) -> None:
    negatives = [c for c in crops if c.hard_negative]
    share = len(negatives) / len(crops)
    assert 0.07 < share < 0.17, share
    # The centre was at least FAR_FROM_NUCLEI_UM from any nucleus before a resize of at most
    # SCALE_RANGE[1]: a disk that wide, less a pixel for the resampling, is empty.
    radius = FAR_FROM_NUCLEI_UM / TARGET_MPP * SCALE_RANGE[0] - 1.5
    yy, xx = np.mgrid[:SIZE, :SIZE]
    centre = (yy - SIZE / 2 + 0.5) ** 2 + (xx - SIZE / 2 + 0.5) ** 2 <= radius**2
    for crop in negatives:
        assert not crop.labels[centre].any()
    # ... while ordinary crops mostly hold nuclei there.
    positives = [c for c in crops if not c.hard_negative]
    assert np.mean([c.labels[centre].any() for c in positives]) > 0.5
    # The labels of a hard negative are kept: nuclei near its edge are still nuclei.
    assert sum(int(c.labels.any()) for c in negatives) > len(negatives) // 2


def test_far_pixels_and_centred_windows() -> None:
    labels = np.zeros((40, 60), np.int32)
    labels[10:14, 10:14] = 1
    far = far_pixels(labels, 8.0)
    ys, xs = np.unravel_index(far, labels.shape)
    assert ((ys - 11.5) ** 2 + (xs - 11.5) ** 2 >= (8 - 3) ** 2).all()
    assert ys.min() >= 7 and xs.min() >= 7 and ys.max() <= 32 and xs.max() <= 52
    assert 0 < far.size < (40 - 14) * (60 - 14)
    image = np.zeros((40, 60, 3), np.uint8)
    window, window_labels = centred_window(image, labels, 2, 58, 10)  # corner: padded
    assert window.shape == (10, 10, 3) and window_labels.shape == (10, 10)
    assert (window[:3, :] == 245).all() and (window[:, 7:] == 245).all()
    assert (window[3:, :7] == 0).all()


def test_crops_are_at_half_a_micron_per_pixel(pool: CropPool, crops: list) -> None:
    assert TARGET_MPP == MODEL_MPP == 0.5
    # About 11 px median nucleus diameter at 0.5 um/px in every source (test_corpus); the
    # crops keep it within the scale jitter.
    diameters = np.concatenate([equivalent_diameters(c.labels) for c in crops[:200]])
    assert 8.0 < float(np.median(diameters)) < 16.0
    for crop in crops:
        assert crop.image.shape == (SIZE, SIZE, 3) and crop.image.dtype == np.uint8
        assert crop.labels.shape == (SIZE, SIZE) and crop.labels.dtype == np.int32
        areas = np.bincount(crop.labels.ravel())[1:]
        assert (areas[areas > 0] >= MIN_FRAGMENT_AREA).all(), "fragments are dropped"


def test_pool_is_reproducible_from_its_random_state(split) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    a = CropPool(split.train[:20], 64, rng)
    a.batch(3)
    state = rng.bit_generator.state
    first = a.batch(4)
    rng.bit_generator.state = state  # what a resumed training restores
    second = a.batch(4)
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)


def test_channel_stats() -> None:
    image = np.zeros((2, 2, 3), np.uint8)
    image[0] = 255
    tile = CorpusTile("s", "t", "o", "s/t", image, np.zeros((2, 2), np.int32), 0.5, False)
    mean, std = channel_stats([tile])
    assert mean == [0.5, 0.5, 0.5] and std == [0.5, 0.5, 0.5]


def test_packed_corpus_loads_as_the_same_split(split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tilescope.training.maskrcnn.pack import pack_corpus

    data = Path(shared_file("nuclei", "monuseg_train", "source.json")).parents[1]
    pack_corpus(data, tmp_path / "packed", log=lambda _line: None)
    lines: list[str] = []
    packed = load_split(tmp_path / "packed", lines.append)
    assert lines[0].startswith("packed corpus")
    assert any("scale estimate lgg_tcga_emory" in line for line in lines)
    for original, copy in ((split.train, packed.train), (split.holdout, packed.holdout)):
        assert [(t.key, t.slide, t.organ) for t in original] == [
            (t.key, t.slide, t.organ) for t in copy
        ]
        for a, b in zip(original, copy, strict=True):
            np.testing.assert_array_equal(a.image, b.image)
            np.testing.assert_array_equal(a.labels, b.labels)
    with pytest.raises(ValueError, match="not empty"):
        pack_corpus(data, tmp_path / "packed", log=lambda _line: None)


def test_packed_jpeg_images_stay_close_and_labels_exact(tmp_path: Path) -> None:
    import json

    from PIL import Image

    from tilescope.training.maskrcnn.pack import pack_corpus

    folder = tmp_path / "nuclei" / "synthetic_40x"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(200, 25, (128, 128, 3)), 0, 255).astype(np.uint8)
    labels = np.zeros((128, 128), np.uint16)
    labels[20:40, 20:40], labels[60:90, 70:100] = 1, 2
    Image.fromarray(image).save(folder / "t.png")
    Image.fromarray(labels).save(folder / "t_label.png")
    meta = {"organ": "kidney", "licence": "CC0", "labels_complete": "yes", "mpp": 0.25}
    (folder / "source.json").write_text(json.dumps(meta | {"images": [{"image": "t.png"}]}))
    original = load_split(tmp_path / "nuclei", lambda _line: None).train
    pack_corpus(tmp_path / "nuclei", tmp_path / "packed", lambda _line: None, jpeg_quality=95)
    assert (tmp_path / "packed" / "synthetic_40x" / "t.jpg").is_file()
    packed = load_split(tmp_path / "packed", lambda _line: None).train
    assert packed[0].image.shape == original[0].image.shape == (64, 64, 3)  # 40x -> 0.5 um/px
    np.testing.assert_array_equal(packed[0].labels, original[0].labels)
    error = np.abs(packed[0].image.astype(int) - original[0].image.astype(int)).mean()
    assert 0 < error < 4
