"""A pasted instance mask as one polygon: its largest connected part, pixel-corner coords.

The outline itself comes from `tilescope.plugins.geometry.mask_to_polygon` (find_contours at
the 0.5 level, shifted by half a pixel to the store's pixel-corner convention, simplified).
A thresholded Mask R-CNN mask can have specks beside the nucleus; only the largest
8-connected part is the instance.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from shapely.geometry.base import BaseGeometry

from tilescope.plugins.geometry import mask_to_polygon
from tilescope.plugins.maskrcnn.paste import PastedMask

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected part of a boolean mask (the mask itself if it has one part)."""
    labels, count = ndi.label(mask, structure=_EIGHT_CONNECTED)
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def instance_polygon(
    pasted: PastedMask, min_area: int = 1, simplify: float = 0.5
) -> BaseGeometry | None:
    """The polygon (image pixels) of a pasted mask, or None when under `min_area` pixels."""
    mask = largest_component(pasted.mask)
    if int(mask.sum()) < min_area:
        return None
    return mask_to_polygon(mask, (float(pasted.x), float(pasted.y)), simplify=simplify)
