"""Tissue detection on a thumbnail, so that tiles of empty glass are skipped.

Brightfield: saturation with an Otsu threshold clamped to an absolute band (a slide that is
tissue everywhere must not be split in two by Otsu, and clean glass must not become tissue),
or any clearly dark pixel (optical density), then small specks removed and holes filled.
Other images (fluorescence): Otsu on intensity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.color import rgb2hsv
from skimage.filters import threshold_otsu
from skimage.morphology import remove_small_objects

from tilescope.engine.slide.source import SlideSource

SATURATION_BAND = (0.04, 0.10)
DARK_OD = 0.35  # mean optical density above which a pixel is tissue whatever its colour
MIN_OBJECT_FRACTION = 0.0005  # of the thumbnail area


def tissue_mask(thumbnail: np.ndarray) -> np.ndarray:
    """Boolean H x W mask of tissue on an H x W x C thumbnail."""
    image = np.asarray(thumbnail)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] >= 3 and image.dtype == np.uint8:
        rgb = image[..., :3]
        saturation = rgb2hsv(rgb)[..., 1]
        try:
            otsu = float(threshold_otsu(saturation))
        except ValueError:  # a single-valued image
            otsu = SATURATION_BAND[1]
        threshold = min(max(otsu, SATURATION_BAND[0]), SATURATION_BAND[1])
        od = -np.log((rgb.astype(np.float32) + 1.0) / 256.0).mean(axis=2)
        mask = (saturation > threshold) | (od > DARK_OD)
    else:
        intensity = image.astype(np.float32).mean(axis=2)
        if float(intensity.max()) == float(intensity.min()):
            return np.ones(intensity.shape, dtype=bool)
        mask = intensity > float(threshold_otsu(intensity))
    min_size = max(4, int(MIN_OBJECT_FRACTION * mask.size))
    mask = remove_small_objects(mask, max_size=min_size - 1)
    # pad with the edge so closing does not eat tissue that runs off the image
    padded = np.pad(mask, 2, mode="edge")
    mask = ndi.binary_fill_holes(ndi.binary_closing(padded, iterations=2))[2:-2, 2:-2]
    return np.asarray(mask, dtype=bool)


@dataclass(frozen=True)
class TissueMap:
    """A tissue mask and its scale, answering 'is there tissue in this level-0 box?'."""

    mask: np.ndarray
    downsample: float  # level-0 pixels per mask pixel

    def has_tissue(self, box: tuple[float, float, float, float]) -> bool:
        x0, y0, x1, y1 = box
        h, w = self.mask.shape
        c0 = min(max(int(x0 / self.downsample), 0), w)
        r0 = min(max(int(y0 / self.downsample), 0), h)
        c1 = min(max(int(np.ceil(x1 / self.downsample)), c0 + 1), w)
        r1 = min(max(int(np.ceil(y1 / self.downsample)), r0 + 1), h)
        return bool(self.mask[r0:r1, c0:c1].any())

    @property
    def fraction(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0


def detect_tissue(slide: SlideSource, max_size: int = 1024) -> TissueMap:
    """Tissue map of a slide from its thumbnail."""
    meta = slide.metadata
    thumb = slide.thumbnail(max_size)
    downsample = max(meta.width / thumb.shape[1], meta.height / thumb.shape[0])
    return TissueMap(tissue_mask(thumb), downsample)
