"""The shared nuclei corpus (numpy only: runs in CI without torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_file
from tilescope.training.corpus import load_corpus, split_corpus
from tilescope.training.corpus.sampler import CropSampler, sampling_group, source_weights
from tilescope.training.corpus.scores import score_tile, summarise
from tilescope.training.corpus.sources import (
    discover,
    equivalent_diameters,
    resample_labels,
    resample_rgb,
)
from tilescope.training.corpus.split import group_of


def nuclei_folder() -> Path:
    return Path(shared_file("nuclei", "monuseg_train", "source.json")).parents[1]


@pytest.fixture(scope="module")
def corpus():  # type: ignore[no-untyped-def]
    lines: list[str] = []
    tiles, sources, estimates = load_corpus(nuclei_folder(), log=lines.append)
    return tiles, sources, estimates, lines


def test_every_source_json_is_read_and_test_only_data_never_loaded(corpus) -> None:  # type: ignore[no-untyped-def]
    tiles, sources, _, _ = corpus
    names = {s.name for s in sources}
    assert {"monuseg_train", "miccai2015", "miccai2015_more", "gbm40_emory"} <= names
    assert {"lgg_tcga_emory", "dsb2018_stage1_histo"} <= names
    assert not {t.source for t in tiles} & {"cryonuseg", "nuclick_demo"}
    monuseg = next(s for s in sources if s.name == "monuseg_train")
    assert len(monuseg.specs) == 30 and all(s.mpp == 0.25 for s in monuseg.specs)
    folder = next(s for s in sources if s.name == "miccai2015")
    miccai = {spec.name: spec.mpp for spec in folder.specs}
    assert miccai == {"image01": 0.5, "image08": 0.25}  # README_training.txt


def test_unknown_scales_are_estimated_logged_and_credible(corpus) -> None:  # type: ignore[no-untyped-def]
    _, _, estimates, lines = corpus
    assert set(estimates) == {"gbm40_emory", "lgg_tcga_emory", "dsb2018_stage1_histo"}
    for estimate in estimates.values():
        assert estimate.credible and 0.2 <= estimate.mpp <= 0.35, estimate
        assert any(estimate.source in line and "um/px" in line for line in lines)


def test_tiles_are_at_the_model_scale(corpus) -> None:  # type: ignore[no-untyped-def]
    tiles, _, _, _ = corpus
    by_key = {t.key: t for t in tiles}
    assert by_key["monuseg_train/TCGA-A7-A13E-01Z-00-DX1"].image.shape == (500, 500, 3)
    assert by_key["miccai2015/image01"].labels.shape == (488, 643)  # 20x: as is
    # After resampling, the median nucleus diameter of every source is within a factor 1.6
    # of the others' (0.5 um/px: about 11 px).
    medians = {}
    for source in {t.source for t in tiles}:
        diam = np.concatenate([equivalent_diameters(t.labels) for t in tiles if t.source == source])
        medians[source] = float(np.median(diam))
    assert max(medians.values()) / min(medians.values()) < 1.6, medians


def test_holdout_is_whole_organs_and_sources_never_a_training_slide(corpus) -> None:  # type: ignore[no-untyped-def]
    tiles, _, _, _ = corpus
    split = split_corpus(tiles)
    held = {group_of(t) for t in split.holdout}
    assert held == {"monuseg:breast", "monuseg:colon", "lgg_tcga_emory"}
    assert not {group_of(t) for t in split.train} & held
    assert not {t.slide for t in split.train} & {t.slide for t in split.holdout}
    assert len(split.train) + len(split.holdout) == len(tiles)


def test_sampling_weights_keep_any_group_from_dominating(corpus) -> None:  # type: ignore[no-untyped-def]
    tiles, _, _, _ = corpus
    train = split_corpus(tiles).train
    weights = source_weights(train)
    assert abs(sum(weights.values()) - 1) < 1e-9
    assert max(weights.values()) < 0.25
    assert {sampling_group(t) for t in train} == set(weights)
    sampler = CropSampler(train, 96, np.random.default_rng(0))
    images, labels = sampler.batch(6)
    assert images.shape == (6, 96, 96, 3) and images.dtype == np.uint8
    assert labels.shape == (6, 96, 96) and labels.max() > 0


def test_resampling_keeps_instances_and_sizes() -> None:
    labels = np.zeros((40, 40), dtype=np.int32)
    labels[4:14, 4:14] = 1
    labels[20:36, 18:34] = 2
    half = resample_labels(labels, 2.0)
    assert half.shape == (20, 20) and set(np.unique(half)) == {0, 1, 2}
    assert (half == 2).sum() == 64
    odd = resample_labels(labels, 1.3)
    assert odd.shape == (31, 31) and set(np.unique(odd)) == {0, 1, 2}
    rgb = np.full((40, 40, 3), 100, dtype=np.uint8)
    assert resample_rgb(rgb, 2.0).shape == (20, 20, 3)
    assert resample_rgb(rgb, 1.3).shape == (31, 31, 3)


def test_scores_per_group_and_macro() -> None:
    truth = np.zeros((20, 20), dtype=np.int32)
    truth[2:8, 2:8] = 1
    truth[10:18, 10:18] = 2
    perfect = score_tile("a", "t1", truth, truth)
    half = score_tile("b", "t2", truth, np.where(truth == 1, 1, 0))
    summary = summarise([perfect, half])
    assert summary["a"]["f1"] == 1.0 and summary["a"]["aji"] == 1.0 and summary["a"]["pq"] == 1.0
    assert summary["b"]["f1"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary["macro"]["f1"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-3)


def test_discover_needs_the_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        discover(tmp_path / "missing")
