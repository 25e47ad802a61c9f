"""`pixel-instances` post-processing on synthetic NP + HV maps (no model, no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from tilescope.engine.inference.metrics import aji, instance_f1
from tilescope.engine.inference.types import TileInfo
from tilescope.plugins.hover.postprocess import (
    PostprocessParams,
    edge_map,
    fill_holes,
    instance_labels,
    open_3x3,
    relabel,
)


def hv_maps(labels: np.ndarray) -> np.ndarray:
    """The HoVer-Net targets of a label image (as in training): 2 x H x W in -1..1."""
    h, w = labels.shape
    out = np.zeros((2, h, w), dtype=np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    flat = labels.ravel()
    n = int(flat.max()) + 1
    counts = np.maximum(np.bincount(flat, minlength=n), 1)
    for axis, coords in enumerate((xs.ravel(), ys.ravel())):
        d = coords - (np.bincount(flat, weights=coords, minlength=n) / counts)[flat]
        top = np.zeros(n)
        bottom = np.zeros(n)
        np.maximum.at(top, flat, d)
        np.minimum.at(bottom, flat, d)
        scaled = np.where(
            d > 0, d / np.maximum(top[flat], 1e-6), d / np.maximum(-bottom[flat], 1e-6)
        )
        scaled[flat == 0] = 0
        out[axis] = scaled.reshape(h, w)
    return out


def discs(shape: tuple[int, int], centres: list[tuple[int, int]], radius: float) -> np.ndarray:
    """Touching discs: each pixel belongs to the nearest centre within `radius`."""
    from scipy import ndimage as ndi

    seeds = np.zeros(shape, dtype=np.int32)
    for k, (cy, cx) in enumerate(centres, start=1):
        seeds[cy, cx] = k
    distance, (iy, ix) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    return np.where(distance <= radius, seeds[iy, ix], 0).astype(np.int32)


def test_touching_nuclei_are_split_along_the_hv_edge() -> None:
    # A row of 5 overlapping discs (centres 12 px apart, radius 8): one blob in NP.
    truth = discs((40, 90), [(20, 12 + 12 * k) for k in range(6)], 8.0)
    assert len(np.unique(truth)) - 1 == 6
    prob = (truth > 0).astype(np.float32)
    from scipy import ndimage as ndi

    assert ndi.label(prob > 0.5)[1] == 1  # NP alone cannot split them
    labels = instance_labels(prob, hv_maps(truth))
    assert instance_f1(truth, labels).f1 == 1.0
    assert aji(truth, labels) > 0.85


def test_noisy_maps_and_isolated_nuclei() -> None:
    rng = np.random.default_rng(0)
    centres = [(int(y), int(x)) for y, x in rng.uniform(10, 190, size=(60, 2))]
    truth = discs((200, 200), centres, 6.0)
    truth = relabel(truth)
    prob = np.clip((truth > 0) * 0.9 + rng.normal(0, 0.1, truth.shape), 0, 1).astype(np.float32)
    hv = hv_maps(truth) + rng.normal(0, 0.05, (2, *truth.shape)).astype(np.float32)
    labels = instance_labels(prob, hv)
    assert instance_f1(truth, labels).f1 > 0.85
    assert aji(truth, labels) > 0.7


def test_empty_and_tiny() -> None:
    empty = instance_labels(np.zeros((32, 32), np.float32), np.zeros((2, 32, 32), np.float32))
    assert empty.shape == (32, 32) and empty.max() == 0
    speck = np.zeros((32, 32), np.float32)
    speck[5:7, 5:7] = 1  # 4 px, under min_area
    assert instance_labels(speck, np.zeros((2, 32, 32), np.float32)).max() == 0
    blob = np.zeros((32, 32), np.float32)
    blob[10:16, 10:16] = 1  # no HV signal: still one object (a component without a marker)
    params = PostprocessParams(edge_threshold=-1.0)
    assert instance_labels(blob, np.zeros((2, 32, 32), np.float32), params).max() == 1


def test_a_blob_far_larger_than_a_nucleus_is_split_or_dropped() -> None:
    # Two 13 px discs touching, NP says nucleus everywhere and HV is flat (no edge signal):
    # one 1,000 px component, split at its distance peaks into two nuclei.
    truth = discs((60, 80), [(30, 25), (30, 50)], 12.5)
    flat = np.zeros((2, 60, 80), np.float32)
    params = PostprocessParams(max_area=700)
    labels = instance_labels((truth > 0).astype(np.float32), flat, params)
    assert labels.max() == 2 and instance_f1(truth, labels).f1 == 1.0
    # Nothing over max_area survives: a 40 x 60 slab is split along its ridge or dropped.
    slab = np.zeros((60, 80), np.float32)
    slab[10:50, 10:70] = 1
    pieces = instance_labels(slab, flat, PostprocessParams(max_area=300))
    assert np.bincount(pieces.ravel())[1:].max(initial=0) <= 300


def test_model_type_postprocess_gives_level0_polygons_and_the_np_map() -> None:
    from tilescope.plugins.hover.model_type import PixelInstancesType

    truth = discs((64, 64), [(20, 20), (20, 34), (45, 45)], 7.0)
    maps = np.concatenate([(truth > 0)[None].astype(np.float32), hv_maps(truth)])[None]
    model_type = PixelInstancesType.__new__(PixelInstancesType)
    model_type.parameters = {p: s.default for p, s in PixelInstancesType.parameter_specs.items()}
    model_type.class_names = lambda: ("Nucleus",)  # type: ignore[method-assign]
    tile = TileInfo(0, 1000.0, 2000.0, 64, 64, 2.0, (0, 0, 64, 64))
    (result,) = model_type.postprocess([maps], [tile])
    assert len(result.instances) == 3
    assert all(
        a.class_name == "Nucleus" and a.score == pytest.approx(1.0) for a in result.instances
    )
    x0, y0, x1, y1 = result.instances[0].geometry.bounds
    assert 1000 <= x0 < x1 <= 1128 and 2000 <= y0 < y1 <= 2128  # level-0: origin + 2 x pixels
    areas = sorted(a.geometry.area / 4 for a in result.instances)
    assert areas[-1] == pytest.approx(np.pi * 49, rel=0.2)
    assert result.probabilities is not None and result.probabilities.shape == (1, 64, 64)


def test_quick_primitives_match_scipy_on_random_masks_and_maps() -> None:
    """fill_holes, open_3x3, edge_map and relabel are rewrites for speed, not new rules."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(7)
    square = np.ones((3, 3), dtype=bool)
    for shape in [(1, 9), (5, 1), (37, 53), (64, 64)]:
        for density in (0.1, 0.5, 0.8, 1.0):
            mask = rng.random(shape) < density
            assert np.array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))
            assert np.array_equal(open_3x3(mask), ndi.binary_opening(mask, structure=square))
            labels, _ = ndi.label(mask)
            labels[labels % 3 == 0] = 0  # gaps in the ids
            ids = np.unique(labels)[1:]
            expected = np.searchsorted(ids, labels) + 1
            assert np.array_equal(relabel(labels), np.where(labels > 0, expected, 0))
    hv = rng.uniform(-1, 1, (2, 48, 70)).astype(np.float32)
    for sigma in (0.0, 1.0, 1.7):
        h, v = (ndi.gaussian_filter(c, sigma) if sigma else c for c in hv)
        reference = np.maximum(-ndi.sobel(h, axis=1) / 8, -ndi.sobel(v, axis=0) / 8)
        np.testing.assert_allclose(edge_map(hv, sigma), reference, atol=1e-5)


def test_outlines_are_valid_and_cover_their_pixels() -> None:
    """Douglas-Peucker first (quick), the topology-preserving simplifier if that fails."""
    from tilescope.plugins.geometry import mask_to_polygon

    rng = np.random.default_rng(3)
    centres = [(int(y), int(x)) for y, x in rng.uniform(8, 248, size=(300, 2))]
    truth = relabel(discs((256, 256), centres, 7.0))
    from scipy import ndimage as ndi

    for index, box in enumerate(ndi.find_objects(truth), start=1):
        mask = truth[box] == index
        polygon = mask_to_polygon(mask, (box[1].start, box[0].start), 0.5)
        assert polygon is not None and polygon.is_valid and polygon.geom_type == "Polygon"
        if ndi.label(mask)[1] == 1 and mask.sum() >= 20:
            assert polygon.area == pytest.approx(mask.sum(), rel=0.25)
