"""Shape and stain measurements on real nuclei: exact areas, regionprops agreement, rings."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from PIL import Image
from scipy import ndimage as ndi
from skimage.color import rgb2hed
from skimage.measure import regionprops

from tests.conftest import shared_file
from tests.engine.analysis.real_data import label_polygons, miccai
from tilescope.engine.analysis.classifier import ThresholdClassifier
from tilescope.engine.analysis.measure import MeasureOptions, measure_objects
from tilescope.engine.analysis.raster import rasterize_labels, ring_labels
from tilescope.engine.analysis.shape import shape_features
from tilescope.engine.analysis.stain import (
    H_DAB,
    H_E_DAB,
    StainVectors,
    deconvolve,
    estimate_stain_vectors,
)
from tilescope.engine.errors import InputError
from tilescope.engine.inference.memory_slide import ArraySlide
from tilescope.engine.inference.progress import CancelToken, RunCancelledError


@pytest.mark.parametrize("name", ["image01", "image08"])
def test_areas_equal_ground_truth_pixel_counts(name: str) -> None:
    _, labels, values, polygons = miccai(name)
    counts = np.bincount(labels.ravel())[values]
    features = shape_features(polygons)
    assert np.array_equal(features["area_px2"], counts.astype(float))
    assert np.allclose(shape_features(polygons, mpp=0.5)["area_um2"], counts * 0.25)
    # The scanline fill gives back exactly the ground-truth pixels.
    assert np.array_equal(rasterize_labels(polygons, values, (0, 0), labels.shape), labels)


def test_ellipse_features_match_regionprops() -> None:
    _, labels, values, polygons = miccai("image08")
    features = shape_features(polygons)
    props = {p.label: p for p in regionprops(labels)}
    big = [i for i, v in enumerate(values) if props[v].area >= 100]
    assert len(big) > 100
    for ours, theirs in [
        ("major_axis_px", "axis_major_length"),
        ("minor_axis_px", "axis_minor_length"),
        ("solidity", "solidity"),
    ]:
        reference = np.array([getattr(props[values[i]], theirs) for i in big])
        relative = np.abs(features[ours][big] - reference) / reference
        assert np.median(relative) < 0.05, ours
    ecc = np.array([props[values[i]].eccentricity for i in big])
    assert np.median(np.abs(features["eccentricity"][big] - ecc)) < 0.03


def test_holes_points_and_anisotropic_pixels() -> None:
    ring = shapely.box(0, 0, 10, 10).difference(shapely.box(2, 2, 4, 4))
    f = shape_features([ring, shapely.Point(1, 1), shapely.box(0, 0, 2, 4)], mpp=(0.5, 0.25))
    assert f["area_um2"][0] == pytest.approx(96 * 0.125)
    assert np.isnan(f["area_um2"][1]) and np.isnan(f["eccentricity"][1])
    assert f["perimeter_um"][2] == pytest.approx(4.0)  # 2 x 4 px of 0.5 x 0.25 um: 1 um square
    assert f["eccentricity"][2] == pytest.approx(0.0, abs=1e-6)
    assert f["major_axis_um"][2] == pytest.approx(f["minor_axis_um"][2])


@pytest.mark.parametrize("name", ["image01", "image08"])
def test_nuclei_are_darker_in_haematoxylin_than_their_ring(name: str) -> None:
    rgb, _, _, polygons = miccai(name)
    columns = measure_objects(ArraySlide(rgb, mpp=0.5), polygons, 0.5)
    inside = columns["hematoxylin_od_mean"]
    ring = columns["cytoplasm_hematoxylin_od_mean"]
    assert np.isfinite(inside).all() and np.isfinite(ring).mean() > 0.95
    assert np.mean(inside > ring) > 0.9
    assert (columns["hematoxylin_od_max"] >= inside).all()
    assert (columns["hematoxylin_od_std"] >= 0).all()


def test_intensity_equals_a_direct_computation() -> None:
    rgb, labels, values, polygons = miccai("image01")
    columns = measure_objects(
        ArraySlide(rgb), polygons[:20], None, options=MeasureOptions(tile_size=128)
    )
    amounts = deconvolve(rgb, H_E_DAB)
    for i in range(20):
        pixels = amounts[labels == values[i]]
        assert columns["eosin_od_mean"][i] == pytest.approx(pixels[:, 1].mean(), rel=1e-4)
        assert columns["dab_od_max"][i] == pytest.approx(pixels[:, 2].max(), rel=1e-5)


def test_ring_stops_at_neighbours_and_grows_with_width() -> None:
    _, labels, _, _ = miccai("image01")
    narrow, wide = ring_labels(labels, 2), ring_labels(labels, 6)
    assert not (narrow & (labels > 0)).any()
    assert (narrow > 0).sum() < (wide > 0).sum()
    distance = ndi.distance_transform_edt(labels == 0)
    assert distance[narrow > 0].max() <= 2 + 1e-9


def test_dab_positive_cells_found_by_the_threshold_classifier() -> None:
    rgb = np.asarray(Image.open(shared_file("nuclei", "skimage_ihc.png")).convert("RGB"))
    haematoxylin = ndi.gaussian_filter(deconvolve(rgb, H_DAB)[..., 0], 1)
    labels, _ = ndi.label(ndi.binary_opening(haematoxylin > 0.08))
    sizes = np.bincount(labels.ravel())
    labels[(sizes < 30)[labels] | (sizes > 1500)[labels]] = 0
    _, nuclei = label_polygons(labels)
    assert len(nuclei) > 150
    columns = measure_objects(
        ArraySlide(rgb), nuclei, None, options=MeasureOptions(H_DAB, ring_um=4)
    )
    rule = ThresholdClassifier.parse("cytoplasm_dab_od_mean>0.25")
    classes = np.array(rule.predict(columns["cytoplasm_dab_od_mean"]))
    positive = classes == "Positive"
    assert 0.2 < positive.mean() < 0.8
    # Independent reference: scikit-image's DAB channel, smoothed over the tissue around.
    brown = ndi.gaussian_filter(rgb2hed(rgb)[..., 2], 8)
    xy = np.array([[g.centroid.x, g.centroid.y] for g in nuclei]).astype(int)
    around = brown[xy[:, 1], xy[:, 0]]
    assert around[positive].mean() > 3 * around[~positive].mean()
    assert np.mean(positive == (around > np.median(brown))) > 0.8


def test_estimated_stain_vectors_recover_the_mixing_vectors() -> None:
    rng = np.random.default_rng(0)
    truth = StainVectors("t", (("hematoxylin", (0.55, 0.75, 0.37)), ("eosin", (0.1, 0.9, 0.42))))
    amounts = rng.gamma(2.0, 0.25, size=(20000, 2)) * (rng.uniform(size=(20000, 1)) > 0.3)
    od = amounts @ truth.matrix()[:2]
    rgb = np.clip(255 * 10 ** (-od), 0, 255).round().astype(np.uint8).reshape(100, 200, 3)
    found = estimate_stain_vectors(rgb)
    for (_, got), (_, want) in zip(found.stains, truth.stains, strict=True):
        assert np.degrees(np.arccos(np.clip(np.dot(got, want), -1, 1))) < 3


def test_deconvolution_agrees_with_scikit_image() -> None:
    rgb = np.asarray(Image.open(shared_file("nuclei", "skimage_ihc.png")).convert("RGB"))
    ours = deconvolve(rgb, H_E_DAB)[..., 2].ravel()
    theirs = rgb2hed(rgb)[..., 2].ravel()
    assert np.corrcoef(ours, theirs)[0, 1] > 0.98


def test_bad_stain_vectors_and_cancel() -> None:
    with pytest.raises(InputError, match="same colour"):
        StainVectors("x", (("a", (1, 1, 1)), ("b", (2, 2, 2))))
    with pytest.raises(InputError, match="non-negative"):
        H_DAB.with_vector("dab", (-1, 0, 0))
    assert StainVectors.from_json(H_DAB.to_json()) == H_DAB
    rgb, _, _, polygons = miccai("image01")
    token = CancelToken()
    token.cancel()
    with pytest.raises(RunCancelledError):
        measure_objects(
            ArraySlide(rgb), polygons, None, cancel=token, options=MeasureOptions(tile_size=64)
        )


def test_a_region_drawn_around_the_cells_changes_none_of_their_values() -> None:
    rgb, _, _, polygons = miccai("image01")
    alone = measure_objects(ArraySlide(rgb), polygons, None)
    region = shapely.box(20, 20, 600, 460)
    together = measure_objects(ArraySlide(rgb), [region, *polygons], None)
    for name in ("hematoxylin_od_mean", "cytoplasm_eosin_od_mean", "area_px2"):
        assert np.allclose(together[name][1:], alone[name], equal_nan=True), name
    assert together["area_px2"][0] == region.area
    assert np.isnan(together["hematoxylin_od_mean"][0])  # a region: shape only
