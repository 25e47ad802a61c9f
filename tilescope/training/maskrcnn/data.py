"""Training data for the nuclei Mask R-CNN (numpy only): one magnification, split, crop pool.

Everything is brought to `TARGET_MPP` (about 20x): 40x images are downscaled by 2 with area
averaging, their labels with nearest neighbour. Only the two fully labelled MICCAI 2015
tiles are used (CryoNuSeg outlines 59 of its nuclei; its unlabelled nuclei would be taught
as background). The held-out tile is the right `HOLDOUT_FRACTION` of image01; training sees
the rest of image01 and all of image08 (see the model card for why).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.transform import resize

TARGET_MPP = 0.5
HOLDOUT_FRACTION = 0.4
MIN_INSTANCE_AREA = 6  # pixels at TARGET_MPP; smaller fragments at crop borders are dropped


@dataclass(frozen=True)
class SourceTile:
    """An RGB uint8 image and its uint16/int32 instance labels at TARGET_MPP."""

    name: str
    image: np.ndarray
    labels: np.ndarray


# (file stem, objective power): MICCAI 2015 README_training.txt lists the magnifications.
_MICCAI_TILES = (("image01", 20), ("image08", 40))


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _read_labels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img).astype(np.int32)


def downscale_area(image: np.ndarray, factor: int) -> np.ndarray:
    """Integer downscale by averaging factor x factor blocks (uint8 in, uint8 out)."""
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor, -1).astype(np.float32)
    return np.clip(blocks.mean(axis=(1, 3)) + 0.5, 0, 255).astype(np.uint8)


def downscale_labels(labels: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour downscale: the centre-ish pixel of each block."""
    h, w = (labels.shape[0] // factor) * factor, (labels.shape[1] // factor) * factor
    return labels[factor // 2 : h : factor, factor // 2 : w : factor]


def load_tiles(data_dir: Path) -> list[SourceTile]:
    """The fully labelled tiles at TARGET_MPP; a clear error when files are missing."""
    folder = Path(data_dir) / "miccai2015"
    tiles = []
    for stem, power in _MICCAI_TILES:
        image_path, label_path = folder / f"{stem}.png", folder / f"{stem}_label.png"
        for path in (image_path, label_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: training file not found (expected under --data)")
        image, labels = _read_rgb(image_path), _read_labels(label_path)
        if image.shape[:2] != labels.shape:
            raise ValueError(f"{label_path}: shape {labels.shape} differs from {image.shape[:2]}")
        factor = power // 20
        if factor > 1:
            image, labels = downscale_area(image, factor), downscale_labels(labels, factor)
        tiles.append(SourceTile(stem, image, labels))
    return tiles


def split_train_holdout(tiles: list[SourceTile]) -> tuple[list[SourceTile], SourceTile]:
    """Training regions and the held-out tile (right part of image01, never seen in training)."""
    train: list[SourceTile] = []
    holdout = None
    for tile in tiles:
        if tile.name == "image01":
            cut = round(tile.image.shape[1] * (1 - HOLDOUT_FRACTION))
            train.append(SourceTile("image01-left", tile.image[:, :cut], tile.labels[:, :cut]))
            holdout = SourceTile("image01-right", tile.image[:, cut:], tile.labels[:, cut:])
        else:
            train.append(tile)
    if holdout is None:
        raise ValueError("image01 is needed for the held-out tile")
    return train, holdout


def holdout_tile(data_dir: Path) -> SourceTile:
    """The held-out evaluation tile alone (used by tests and the model card)."""
    return split_train_holdout(load_tiles(data_dir))[1]


def clean_labels(labels: np.ndarray, min_area: int = MIN_INSTANCE_AREA) -> np.ndarray:
    """Labels with fragments under `min_area` pixels set to background."""
    counts = np.bincount(labels.ravel())
    small = np.flatnonzero(counts < min_area)
    if small.size and small[0] == 0:
        small = small[1:]
    if small.size:
        labels = np.where(np.isin(labels, small), 0, labels)
    return labels


def build_crop_pool(
    tiles: list[SourceTile],
    count: int,
    size: int,
    rng: np.random.Generator,
    scale_range: tuple[float, float] = (0.8, 1.25),
) -> tuple[np.ndarray, np.ndarray]:
    """`count` scale-jittered crops: images uint8 (count, 3, size, size), labels int32.

    A crop reads a (size / s)-pixel window and resizes it to `size` (bilinear with
    anti-aliasing for images, nearest for labels), so objects appear s times larger.
    Tiles are drawn in proportion to their area; a window is at most the tile's size.
    """
    areas = np.array([t.image.shape[0] * t.image.shape[1] for t in tiles], dtype=np.float64)
    images = np.empty((count, 3, size, size), dtype=np.uint8)
    labels = np.empty((count, size, size), dtype=np.int32)
    log_lo, log_hi = np.log(scale_range[0]), np.log(scale_range[1])
    for i in range(count):
        tile = tiles[rng.choice(len(tiles), p=areas / areas.sum())]
        scale = float(np.exp(rng.uniform(log_lo, log_hi)))
        image, label = tile.image, tile.labels
        # A window never exceeds the tile (padding would invent or cut nuclei).
        window = min(round(size / scale), image.shape[0], image.shape[1])
        y = int(rng.integers(0, image.shape[0] - window + 1))
        x = int(rng.integers(0, image.shape[1] - window + 1))
        crop = image[y : y + window, x : x + window]
        crop_labels = label[y : y + window, x : x + window]
        if window != size:
            crop = resize(
                crop, (size, size), order=1, anti_aliasing=window > size, preserve_range=True
            )
            crop = np.clip(crop + 0.5, 0, 255).astype(np.uint8)
            crop_labels = resize(
                crop_labels, (size, size), order=0, anti_aliasing=False, preserve_range=True
            ).astype(np.int32)
        images[i] = crop.transpose(2, 0, 1)
        labels[i] = clean_labels(crop_labels)
    return images, labels
