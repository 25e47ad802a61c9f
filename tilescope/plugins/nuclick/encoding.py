"""Model input for a batch of prompts: where each patch lies, and its guiding maps.

Channels (the published NuClick encoding): RGB / 255, inclusion map (the click as a disk of
`radius` model pixels, or the squiggle drawn `width` pixels wide), exclusion map (disks at
the other clicks). Points are in patch pixel-corner coordinates: pixel (i, j) covers
[i, i+1) x [j, j+1), so a disk covers the pixels whose centres lie within `radius`.
`radius` 0 marks the single pixel under the point (the original NuClick's clicks).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from skimage.draw import line

from tilescope.engine.slide.region import RegionRequest


@dataclass(frozen=True, slots=True)
class PatchWindow:
    """A patch of `width` x `height` model pixels whose origin is level-0 (`x`, `y`)."""

    x: float
    y: float
    width: int
    height: int
    downsample: float  # level-0 pixels per model pixel

    @classmethod
    def centred(cls, x: float, y: float, width: int, height: int, downsample: float) -> PatchWindow:
        """The window with (x, y) at its centre, origin on the model pixel grid."""
        ox = round(x / downsample - width / 2)
        oy = round(y / downsample - height / 2)
        return cls(ox * downsample, oy * downsample, width, height, downsample)

    def to_patch(self, points: np.ndarray) -> np.ndarray:
        """Level-0 (x, y) points (K x 2) in patch pixel-corner coordinates."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return (pts - np.array([self.x, self.y])) / self.downsample

    def request(self) -> RegionRequest:
        d = self.downsample
        return RegionRequest(self.x, self.y, self.width * d, self.height * d, d)


def disk_map(points: np.ndarray, width: int, height: int, radius: float) -> np.ndarray:
    """H x W bool: pixels whose centre lies within `radius` of a point (radius 0: the pixel
    under the point). Points outside the patch mark only what falls inside."""
    out = np.zeros((height, width), dtype=bool)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if radius <= 0:
        cols, rows = np.floor(pts[:, 0]).astype(int), np.floor(pts[:, 1]).astype(int)
        ok = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        out[rows[ok], cols[ok]] = True
        return out
    reach = math.ceil(radius) + 1
    for px, py in pts:
        c0, c1 = max(0, math.floor(px) - reach), min(width, math.floor(px) + reach + 1)
        r0, r1 = max(0, math.floor(py) - reach), min(height, math.floor(py) + reach + 1)
        if c0 >= c1 or r0 >= r1:
            continue
        cx = np.arange(c0, c1) + 0.5 - px
        cy = np.arange(r0, r1) + 0.5 - py
        out[r0:r1, c0:c1] |= (cx[None, :] ** 2 + cy[:, None] ** 2) <= radius * radius + 1e-6
    return out


def polyline_map(points: np.ndarray, width: int, height: int, line_width: int) -> np.ndarray:
    """H x W bool: the polyline through `points` (patch coordinates), `line_width` px wide."""
    pts = np.floor(np.asarray(points, dtype=np.float64).reshape(-1, 2)).astype(int)
    out = np.zeros((height, width), dtype=bool)
    if len(pts) == 1:
        pts = np.vstack([pts, pts])
    for (c0, r0), (c1, r1) in itertools.pairwise(pts):
        rr, cc = line(r0, c0, r1, c1)
        ok = (rr >= 0) & (rr < height) & (cc >= 0) & (cc < width)
        out[rr[ok], cc[ok]] = True
    if line_width > 1:
        from scipy.ndimage import binary_dilation

        out = binary_dilation(out, np.ones((line_width, line_width), dtype=bool))
    return out


def exclusion_map(
    window: PatchWindow,
    avoid: np.ndarray,
    own: tuple[float, float],
    radius: float,
    inclusion: np.ndarray,
) -> np.ndarray:
    """Disks at the level-0 `avoid` points (except the prompt's `own` click), never over the
    inclusion signal: a neighbour's click must not cancel the object's own."""
    others = window.to_patch(avoid)
    keep = ~np.all(np.isclose(others, window.to_patch(np.array(own))), axis=1)
    return disk_map(others[keep], window.width, window.height, radius) & ~inclusion


def encode(rgb: np.ndarray, inclusion: np.ndarray, exclusion: np.ndarray) -> np.ndarray:
    """N x 5 x H x W float32 from N x H x W x 3 uint8 patches and N x H x W maps."""
    planes = np.empty((rgb.shape[0], 5, *rgb.shape[1:3]), dtype=np.float32)
    planes[:, :3] = rgb.transpose(0, 3, 1, 2)
    planes[:, :3] *= np.float32(1.0 / 255.0)
    planes[:, 3] = inclusion
    planes[:, 4] = exclusion
    return planes
