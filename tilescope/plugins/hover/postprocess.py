"""HoVer-Net post-processing: NP + HV maps -> markers -> marker-controlled watershed -> labels.

Vectorised numpy/scipy/scikit-image, no per-object Python loop. Where HoVer-Net
min-max-normalises its Sobel maps per image (which makes the result depend on the tile),
this uses a fixed scale, so a nucleus gets the same outline in every tile that holds it:

- ``edge = max(-dH/dx, -dV/dy)`` (per pixel, after a light Gaussian): inside a nucleus H
  rises from -1 to +1 (edge < 0); between two touching nuclei it falls (edge > 0).
- markers: foreground pixels with ``edge < edge_threshold``, opened, small ones dropped;
- watershed of the edge map from the markers inside the foreground; foreground components
  that hold no marker are kept as objects of their own; objects under `min_area` go;
- objects over `max_area` (far above any nucleus at the model's resolution: a blob of
  dense tissue or mucus that the HV maps could not split) are split at the peaks of their
  distance transform, and whatever is still over `max_area` is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed


@dataclass(frozen=True)
class PostprocessParams:
    np_threshold: float = 0.5
    edge_threshold: float = 0.1
    min_area: int = 10  # model pixels
    max_area: int = 2000  # model pixels (0.5 um/px: 500 um2, a 25 um nucleus)
    marker_min_area: int = 4
    sigma: float = 1.0


def edge_map(hv: np.ndarray, sigma: float) -> np.ndarray:
    """max(-dH/dx, -dV/dy) per pixel of a 2 x H x W HV map (Sobel on a smoothed map).

    Each Gaussian and Sobel pass is separable, so each map takes two 1-D passes whose
    kernels are the Gaussian convolved with the Sobel's derivative or smoothing taps: half
    the passes of filtering, then differentiating, with the same result to float rounding.
    """
    derivative = np.array([-1.0, 0.0, 1.0]) / 8.0  # Sobel / 8: a unit slope gives 1 per px
    smoothing = np.array([1.0, 2.0, 1.0])
    if sigma > 0:
        gauss = _gaussian_kernel(sigma)
        derivative = np.convolve(gauss, derivative)
        smoothing = np.convolve(gauss, smoothing)
    h = hv[0].astype(np.float32, copy=False)
    v = hv[1].astype(np.float32, copy=False)
    # correlating twice = correlating once with the two kernels convolved (np.convolve above)
    dh = ndi.correlate1d(ndi.correlate1d(h, derivative, axis=1), smoothing, axis=0)
    dv = ndi.correlate1d(ndi.correlate1d(v, derivative, axis=0), smoothing, axis=1)
    return np.maximum(-dh, -dv)


def _gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The 1-D kernel of `ndi.gaussian_filter` (same radius and normalisation)."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """`ndi.binary_fill_holes`: background not 4-connected to the border becomes foreground.

    One labelling of the background instead of an iterated dilation (about 2.5x quicker).
    """
    background, count = ndi.label(~mask)
    if count == 0:
        return mask
    edge = np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
    outside = np.zeros(count + 1, dtype=bool)
    outside[edge] = True
    outside[0] = True  # label 0 is the mask itself
    return mask | ~outside[background]


def open_3x3(mask: np.ndarray) -> np.ndarray:
    """`ndi.binary_opening` with a 3 x 3 square (outside = background), as separable ANDs/ORs."""

    def erode_or_dilate(m: np.ndarray, combine: np.ufunc) -> np.ndarray:
        padded = np.zeros((m.shape[0] + 2, m.shape[1] + 2), dtype=bool)
        padded[1:-1, 1:-1] = m
        rows = combine(combine(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
        return combine(combine(rows[:-2], rows[1:-1]), rows[2:])

    return erode_or_dilate(erode_or_dilate(mask, np.logical_and), np.logical_or)


def drop_small(labels: np.ndarray, min_area: int) -> np.ndarray:
    """Fragments under `min_area` pixels become background."""
    counts = np.bincount(labels.ravel())
    small = counts < min_area
    small[0] = False
    if small.any():
        lookup = np.arange(len(counts), dtype=labels.dtype)
        lookup[small] = 0
        labels = lookup[labels]
    return labels


def instance_labels(
    probability: np.ndarray, hv: np.ndarray, params: PostprocessParams | None = None
) -> np.ndarray:
    """int32 label image (0 = background) from an H x W probability and a 2 x H x W HV map."""
    p = params or PostprocessParams()
    foreground = probability > p.np_threshold
    if not foreground.any():
        return np.zeros(probability.shape, dtype=np.int32)
    foreground = fill_holes(foreground)
    edge = edge_map(hv, p.sigma)
    seeds = foreground & (edge < p.edge_threshold)
    seeds = open_3x3(seeds)
    markers, count = ndi.label(seeds)
    markers = drop_small(markers, p.marker_min_area)
    labels = watershed(edge, markers, mask=foreground)
    # Foreground components without a marker stay as objects of their own.
    rest = foreground & (labels == 0)
    if rest.any():
        extra, _ = ndi.label(rest)
        labels = np.where(rest, extra + count, labels)
    labels = drop_small(labels.astype(np.int32), p.min_area)
    if p.max_area > 0:
        labels = _split_large(labels, p.max_area, p.min_area)
    return relabel(labels)


def _split_large(labels: np.ndarray, max_area: int, min_area: int) -> np.ndarray:
    """Objects over `max_area` split at distance-transform peaks; leftovers over it dropped."""
    areas = np.bincount(labels.ravel())
    large = areas > max_area
    large[0] = False
    if not large.any():
        return labels
    from skimage.feature import peak_local_max

    offset = int(labels.max())
    # Work in the box around the large objects plus a margin of background wider than
    # peak_local_max's border exclusion, so the result is the whole tile's.
    rows, cols = np.nonzero(large[labels])
    margin = 6
    box = (
        slice(max(rows.min() - margin, 0), rows.max() + margin + 1),
        slice(max(cols.min() - margin, 0), cols.max() + margin + 1),
    )
    crop = labels[box]
    mask = large[crop]
    distance = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(distance, min_distance=4, labels=np.where(mask, crop, 0))
    markers = np.zeros(crop.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = offset + 1 + np.arange(len(peaks), dtype=np.int32)
    split = watershed(-distance, markers, mask=mask)
    out = labels.astype(np.int32, copy=True)
    out[box] = np.where(mask, split, crop)
    areas = np.bincount(out.ravel())
    drop = (areas > max_area) | (areas < min_area)
    drop[0] = False
    return np.where(drop[out], 0, out).astype(np.int32)


def relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids 1..N, in the order of the old ids (a bincount: no sort needed)."""
    present = np.bincount(labels.ravel()) > 0
    present[0] = False
    lookup = np.zeros(len(present), dtype=np.int32)
    lookup[present] = np.arange(1, int(present.sum()) + 1, dtype=np.int32)
    return lookup[labels]
