"""Pasting per-box mask grids (e.g. 28 x 28) into image space, as torchvision does, in numpy.

torchvision's `paste_masks_in_image` first pads each M x M grid by one pixel of zeros and
scales its box by (M + 2) / M about the centre (so the mask can fade out at the box edge),
truncates the box to integers, resizes the grid bilinearly (align_corners=False) to the
box's (x1 - x0 + 1) x (y1 - y0 + 1) pixels and places it, clipped to the image. We do the
same but keep only the box's window, not a full-image array per detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True, slots=True)
class PastedMask:
    """A boolean mask window and its top-left corner (x, y) in image pixels."""

    mask: np.ndarray
    x: int
    y: int

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@lru_cache(maxsize=512)
def _interpolation_matrix(size_in: int, size_out: int) -> np.ndarray:
    """size_out x size_in weights of 1-D linear interpolation with align_corners=False.

    Cached: box sizes repeat a lot within a slide. Read-only; callers must not modify it.
    """
    scale = size_in / size_out
    source = (np.arange(size_out, dtype=np.float64) + 0.5) * scale - 0.5
    source = np.clip(source, 0.0, None)  # PyTorch clamps negative source coordinates to 0
    low = np.minimum(np.floor(source).astype(np.int64), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    frac = source - low
    weights = np.zeros((size_out, size_in), dtype=np.float64)
    rows = np.arange(size_out)
    weights[rows, low] += 1.0 - frac  # one entry per row in each statement: no collisions
    weights[rows, high] += frac
    weights.flags.writeable = False
    return weights


def resize_bilinear(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2-D array (PyTorch `interpolate(..., align_corners=False)`)."""
    rows = _interpolation_matrix(grid.shape[0], height)
    cols = _interpolation_matrix(grid.shape[1], width)
    return (rows @ grid.astype(np.float64) @ cols.T).astype(np.float32)


def expand_box(box: np.ndarray, scale: float) -> np.ndarray:
    """A box scaled about its centre."""
    cx, cy = (box[0] + box[2]) * 0.5, (box[1] + box[3]) * 0.5
    half_w, half_h = (box[2] - box[0]) * 0.5 * scale, (box[3] - box[1]) * 0.5 * scale
    return np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dtype=np.float32)


def paste_mask(
    grid: np.ndarray, box: np.ndarray, image_size: tuple[int, int], threshold: float = 0.5
) -> PastedMask | None:
    """Threshold the per-box probability `grid` pasted at `box` (x0, y0, x1, y1).

    `image_size` is (height, width). None when the window falls outside the image.
    """
    m = grid.shape[-1]
    padded = np.zeros((grid.shape[-2] + 2, m + 2), dtype=np.float32)
    padded[1:-1, 1:-1] = grid.reshape(grid.shape[-2], m)
    scale = (m + 2) / m
    x0, y0, x1, y1 = expand_box(np.asarray(box, dtype=np.float32), scale).astype(np.int64)
    width, height = max(int(x1 - x0 + 1), 1), max(int(y1 - y0 + 1), 1)
    image_h, image_w = image_size
    cx0, cy0 = max(int(x0), 0), max(int(y0), 0)
    cx1, cy1 = min(int(x1) + 1, image_w), min(int(y1) + 1, image_h)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    probabilities = resize_bilinear(padded, height, width)
    window = probabilities[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    return PastedMask(window >= threshold, cx0, cy0)


def crop_pasted(mask: np.ndarray, threshold: float = 0.5) -> PastedMask | None:
    """An image-size probability mask (already pasted by the model) cut to its bounding box."""
    binary = mask >= threshold
    rows, cols = np.flatnonzero(binary.any(axis=1)), np.flatnonzero(binary.any(axis=0))
    if not len(rows):
        return None
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return PastedMask(binary[y0:y1, x0:x1], int(x0), int(y0))
