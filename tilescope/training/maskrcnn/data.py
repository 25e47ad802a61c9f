"""Training crops for the nuclei Mask R-CNN, drawn from the shared corpus (numpy only).

Tiles, scales and the held-out split are the corpus' (`tilescope.training.corpus`): every
source brought to 0.5 um/px, whole organs and sources held out, never a training slide in
the held-out set. Crops come from the corpus `CropSampler` (per-group square-root-area
weights, scale jitter x0.8-1.25). A share `HARD_NEGATIVE_SHARE` of the crops is centred on a
pixel at least `FAR_FROM_NUCLEI_UM` from any nucleus (glass, lumen, fat, stroma, ink): the
old model found false nuclei there, and a crop centred on them puts many RPN and box
negatives where nothing is to be found. Such a crop keeps its labels (nuclei near its edge
stay nuclei); only its centre is empty. Fragments that a crop's border leaves under
`MIN_FRAGMENT_AREA` pixels become background (`drop_small`, the runtime's rule): a sliver
of a nucleus is no box worth regressing to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from tilescope.plugins.hover.postprocess import drop_small
from tilescope.training.corpus import Split, load_corpus, split_corpus
from tilescope.training.corpus.sampler import WHITE, CropSampler, sampling_group, source_weights
from tilescope.training.corpus.sources import MIN_INSTANCE_AREA_UM2, MODEL_MPP, CorpusTile

TARGET_MPP = MODEL_MPP
HARD_NEGATIVE_SHARE = 0.12
FAR_FROM_NUCLEI_UM = 8.0  # a hard negative's centre is this far from every labelled nucleus
MIN_FRAGMENT_AREA = max(3, round(MIN_INSTANCE_AREA_UM2 / TARGET_MPP**2))
SCALE_RANGE = (0.8, 1.25)
PACKED_INDEX = "PACKED.json"  # marks a corpus folder written by `pack` at TARGET_MPP


def load_split(data: Path, log: Callable[[str], None] = print) -> Split:
    """The corpus at TARGET_MPP, split into training and held-out tiles (scales logged).

    `data` is the shared nuclei folder or one written by `pack` (already at TARGET_MPP;
    the scale estimates of the original load are logged from its PACKED.json).
    """
    packed = Path(data) / PACKED_INDEX
    if packed.is_file():
        index = json.loads(packed.read_text())
        log(
            f"packed corpus ({index['packed_from']} at {index['mpp']} um/px, images "
            f"{index.get('images', 'png')}); its load logged:"
        )
        for line in index["log"]:
            log(line)
    tiles, _sources, _estimates = load_corpus(Path(data), TARGET_MPP, log)
    return split_corpus(tiles)


def far_pixels(labels: np.ndarray, distance_px: float) -> np.ndarray:
    """Flat indices of pixels at least `distance_px` from every labelled nucleus and from
    the tile's border (beyond it a nucleus may lie unseen, and a crop centred there would
    be half white padding)."""
    inside = np.pad(labels == 0, 1, constant_values=False)
    distance = ndi.distance_transform_edt(inside)[1:-1, 1:-1]
    return np.flatnonzero(distance >= distance_px).astype(np.int32)


def centred_window(
    image: np.ndarray, labels: np.ndarray, cy: int, cx: int, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """A `window`-square crop centred on (cy, cx); outside the tile is white glass."""
    h, w = labels.shape
    y0, x0 = cy - window // 2, cx - window // 2
    out = np.full((window, window, 3), WHITE, dtype=np.uint8)
    out_labels = np.zeros((window, window), dtype=np.int32)
    sy0, sx0 = max(0, y0), max(0, x0)
    sy1, sx1 = min(h, y0 + window), min(w, x0 + window)
    out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    out_labels[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = labels[sy0:sy1, sx0:sx1]
    return out, out_labels


def resize_crop(image: np.ndarray, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image bilinear, labels nearest (the sampler's rule), to `size` x `size`."""
    window = labels.shape[0]
    if window == size:
        return image, labels
    image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
    idx = np.minimum(((np.arange(size) + 0.5) * window / size).astype(int), window - 1)
    return image, labels[idx[:, None], idx[None, :]]


@dataclass(frozen=True)
class Crop:
    image: np.ndarray  # uint8 size x size x 3
    labels: np.ndarray  # int32 size x size
    tile: CorpusTile
    hard_negative: bool


class CropPool:
    """Training crops: the corpus sampler's, plus hard negatives centred on empty areas.

    One `rng` drives every choice, so saving its state is enough to resume the stream.
    """

    def __init__(
        self,
        tiles: list[CorpusTile],
        size: int,
        rng: np.random.Generator,
        hard_negative_share: float = HARD_NEGATIVE_SHARE,
        scale_range: tuple[float, float] = SCALE_RANGE,
    ) -> None:
        if not tiles:
            raise ValueError("no training tiles: the corpus split left nothing to train on")
        self.tiles = tiles
        self.size = size
        self.rng = rng
        self.hard_negative_share = hard_negative_share
        self.scale_range = scale_range
        self.sampler = CropSampler(tiles, size, rng, scale_range)
        far_px = FAR_FROM_NUCLEI_UM / TARGET_MPP
        self.far = {i: far_pixels(t.labels, far_px) for i, t in enumerate(tiles)}
        usable = [i for i, centres in self.far.items() if centres.size]
        self.negative_weights = source_weights([tiles[i] for i in usable])
        self._groups = sorted(self.negative_weights)
        self._p_group = np.array([self.negative_weights[g] for g in self._groups])
        self._by_group = {
            g: [i for i in usable if sampling_group(tiles[i]) == g] for g in self._groups
        }
        self._p_tile = {}
        for g, index in self._by_group.items():
            area = np.array([tiles[i].labels.size for i in index], dtype=np.float64)
            self._p_tile[g] = area / area.sum()

    @property
    def weights(self) -> dict[str, float]:
        """Sampling weight per group (the corpus sampler's)."""
        return self.sampler.weights

    def _window(self) -> int:
        lo, hi = np.log(self.scale_range[0]), np.log(self.scale_range[1])
        return max(8, round(self.size / float(np.exp(self.rng.uniform(lo, hi)))))

    def hard_negative(self) -> Crop:
        """A crop centred on a pixel far from every nucleus (group-weighted tile choice)."""
        group = self._groups[self.rng.choice(len(self._groups), p=self._p_group)]
        index = self._by_group[group][
            self.rng.choice(len(self._by_group[group]), p=self._p_tile[group])
        ]
        tile = self.tiles[index]
        centre = int(self.far[index][self.rng.integers(self.far[index].size)])
        cy, cx = divmod(centre, tile.labels.shape[1])
        image, labels = centred_window(tile.image, tile.labels, cy, cx, self._window())
        image, labels = resize_crop(image, labels, self.size)
        return Crop(image, drop_small(labels, MIN_FRAGMENT_AREA), tile, True)

    def sample(self) -> Crop:
        if self._groups and self.rng.random() < self.hard_negative_share:
            return self.hard_negative()
        image, labels, tile = self.sampler.sample()
        return Crop(image, drop_small(labels, MIN_FRAGMENT_AREA), tile, False)

    def batch(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """uint8 (count, size, size, 3) images, int32 (count, size, size) labels, negative flags."""
        images = np.empty((count, self.size, self.size, 3), dtype=np.uint8)
        labels = np.empty((count, self.size, self.size), dtype=np.int32)
        negative = np.zeros(count, dtype=bool)
        for i in range(count):
            crop = self.sample()
            images[i], labels[i], negative[i] = crop.image, crop.labels, crop.hard_negative
        return images, labels, negative


def channel_stats(tiles: list[CorpusTile]) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (0..1) of the training tiles, for the in-graph normalisation."""
    total = np.zeros(3)
    square = np.zeros(3)
    count = 0
    for tile in tiles:
        pixels = tile.image.reshape(-1, 3).astype(np.float64) / 255.0
        total += pixels.sum(axis=0)
        square += (pixels**2).sum(axis=0)
        count += pixels.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(square / count - mean**2, 1e-12))
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]
