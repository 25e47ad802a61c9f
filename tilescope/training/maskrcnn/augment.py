"""Per-batch augmentation on the training device: flips, rot90, HED stain jitter, targets.

The crop pool (scale jitter included) is made once on the CPU; what varies per step is
cheap tensor work, so a GPU is not starved by Python image code.
"""

from __future__ import annotations

import torch

from tilescope.training.corpus.augment import flip_rotate, hed_jitter

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
    pool_images: torch.Tensor,
    pool_labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    augment: bool = True,
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """A random batch from the pool (uint8 images, int32 labels, on the training device)."""
    device = pool_images.device
    index = torch.randint(
        0, pool_images.shape[0], (batch_size,), generator=generator, device=device
    )
    images = pool_images[index].float() / 255.0
    labels = pool_labels[index]
    if augment:
        images, labels = flip_rotate(images, labels, generator)
        images = hed_jitter(images, generator)
    return list(images), targets_from_labels(labels)
