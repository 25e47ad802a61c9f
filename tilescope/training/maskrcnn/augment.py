"""Per-batch augmentation and torchvision targets for the Mask R-CNN (torch, on the CPU).

Crops come fresh from the `CropPool` every step (numpy, a few ms per crop); geometry
(flips, rot90) is applied to image and labels together before targets are derived, then
the photometric augmentations of `corpus.augment`: HED stain jitter, brightness/contrast,
blur and JPEG round trips. The batch then moves to the training device.
"""

from __future__ import annotations

import torch

from tilescope.training.corpus.augment import (
    blur_and_noise,
    brightness_contrast,
    flip_rotate,
    hed_jitter,
)
from tilescope.training.maskrcnn.data import CropPool

__all__ = ["flip_rotate", "hed_jitter", "make_batch", "targets_from_labels"]


def targets_from_labels(labels: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """torchvision detection targets (boxes, labels, masks) from B x H x W instance labels."""
    targets = []
    for label in labels:
        ids = torch.unique(label)
        ids = ids[ids > 0]
        masks = label[None] == ids[:, None, None]
        rows, cols = masks.any(dim=2), masks.any(dim=1)
        h, w = label.shape
        y = torch.arange(h, device=label.device)
        x = torch.arange(w, device=label.device)
        y0 = torch.where(rows, y, h).amin(dim=1)
        y1 = torch.where(rows, y, -1).amax(dim=1) + 1
        x0 = torch.where(cols, x, w).amin(dim=1)
        x1 = torch.where(cols, x, -1).amax(dim=1) + 1
        boxes = torch.stack([x0, y0, x1, y1], dim=1).float()
        targets.append(
            {
                "boxes": boxes.reshape(-1, 4),
                "labels": torch.ones(len(ids), dtype=torch.int64, device=label.device),
                "masks": masks.to(torch.uint8),
            }
        )
    return targets


def make_batch(
    pool: CropPool,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    augment: bool = True,
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """A fresh batch from the pool: images (3 x H x W, 0..1) and targets, on `device`."""
    images_np, labels_np, _ = pool.batch(batch_size)
    images = torch.from_numpy(images_np).permute(0, 3, 1, 2).float().div(255)
    labels = torch.from_numpy(labels_np)
    if augment:
        images, labels = flip_rotate(images, labels, generator)
        images = hed_jitter(images, generator)
        images = brightness_contrast(images, generator)
        images = blur_and_noise(images, generator)
    targets = [{k: v.to(device) for k, v in t.items()} for t in targets_from_labels(labels)]
    return list(images.to(device)), targets
