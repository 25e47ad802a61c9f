"""Scale-jittered training crops with per-source sampling weights (numpy only).

Tiles are grouped for sampling: each MoNuSeg organ is a group of its own (it is the
multi-organ source), the two MICCAI 2015 folders are one group (one challenge), every
other source is one group. A group's weight is proportional to the square root of its pixel
count at the model mpp, so no single group dominates and small ones are not drowned;
inside a group, tiles are drawn in proportion to their area. A crop reads a (size / s)-pixel
window (s log-uniform in `scale_range`) and resizes it to `size`; a window larger than its
tile is padded with white glass and background labels.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from PIL import Image

from tilescope.training.corpus.sources import CorpusTile

WHITE = 245


def sampling_group(tile: CorpusTile) -> str:
    if tile.source == "monuseg_train":
        return f"monuseg:{tile.organ}"
    if tile.source.startswith("miccai2015"):
        return "miccai2015"
    return tile.source


def source_weights(tiles: list[CorpusTile]) -> dict[str, float]:
    """Sampling weight per group (see the module docstring)."""
    area: dict[str, float] = defaultdict(float)
    for tile in tiles:
        area[sampling_group(tile)] += tile.labels.size
    root = {k: float(np.sqrt(v)) for k, v in area.items()}
    total = sum(root.values())
    return {k: v / total for k, v in sorted(root.items())}


class CropSampler:
    def __init__(
        self,
        tiles: list[CorpusTile],
        size: int,
        rng: np.random.Generator,
        scale_range: tuple[float, float] = (0.8, 1.25),
    ) -> None:
        self.tiles = tiles
        self.size = size
        self.rng = rng
        self.scale_range = scale_range
        self.weights = source_weights(tiles)
        self._sources = sorted(self.weights)
        self._p_source = np.array([self.weights[s] for s in self._sources])
        self._by_source = {
            s: [i for i, t in enumerate(tiles) if sampling_group(t) == s] for s in self._sources
        }
        self._p_tile = {}
        for s, index in self._by_source.items():
            a = np.array([tiles[i].labels.size for i in index], dtype=np.float64)
            self._p_tile[s] = a / a.sum()

    def sample(self) -> tuple[np.ndarray, np.ndarray, CorpusTile]:
        """One crop: RGB uint8 (size, size, 3), int32 labels (size, size), its tile."""
        source = self._sources[self.rng.choice(len(self._sources), p=self._p_source)]
        index = self._by_source[source]
        tile = self.tiles[index[self.rng.choice(len(index), p=self._p_tile[source])]]
        lo, hi = np.log(self.scale_range[0]), np.log(self.scale_range[1])
        scale = float(np.exp(self.rng.uniform(lo, hi)))
        window = max(8, round(self.size / scale))
        image, labels = crop_padded(tile.image, tile.labels, window, self.rng)
        if window != self.size:
            image = np.asarray(
                Image.fromarray(image).resize((self.size, self.size), Image.Resampling.BILINEAR)
            )
            idx = np.minimum(
                ((np.arange(self.size) + 0.5) * window / self.size).astype(int), window - 1
            )
            labels = labels[idx[:, None], idx[None, :]]
        return image, labels, tile

    def batch(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """`count` crops: uint8 (count, size, size, 3) and int32 (count, size, size)."""
        images = np.empty((count, self.size, self.size, 3), dtype=np.uint8)
        labels = np.empty((count, self.size, self.size), dtype=np.int32)
        for i in range(count):
            images[i], labels[i], _ = self.sample()
        return images, labels


def crop_padded(
    image: np.ndarray, labels: np.ndarray, window: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random `window`-square crop; sides shorter than the window are padded with glass."""
    h, w = labels.shape
    y = int(rng.integers(0, max(0, h - window) + 1))
    x = int(rng.integers(0, max(0, w - window) + 1))
    img = image[y : y + window, x : x + window]
    lab = labels[y : y + window, x : x + window]
    if img.shape[0] < window or img.shape[1] < window:
        oy = int(rng.integers(0, window - img.shape[0] + 1))
        ox = int(rng.integers(0, window - img.shape[1] + 1))
        padded = np.full((window, window, 3), WHITE, dtype=np.uint8)
        padded_lab = np.zeros((window, window), dtype=np.int32)
        padded[oy : oy + img.shape[0], ox : ox + img.shape[1]] = img
        padded_lab[oy : oy + img.shape[0], ox : ox + img.shape[1]] = lab
        img, lab = padded, padded_lab
    return np.ascontiguousarray(img), np.ascontiguousarray(lab)
