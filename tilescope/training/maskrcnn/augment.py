"""Per-batch augmentation on the training device: flips, rot90, HED stain jitter, targets.

The crop pool (scale jitter included) is made once on the CPU; what varies per step is
cheap tensor work, so a GPU is not starved by Python image code.
"""

from __future__ import annotations

import torch

# Ruifrok & Johnston haematoxylin, eosin, DAB optical-density vectors (rows), as in skimage.
_RGB_FROM_HED = torch.tensor(
    [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=torch.float32
)
_RGB_FROM_HED = _RGB_FROM_HED / _RGB_FROM_HED.norm(dim=1, keepdim=True)
_HED_FROM_RGB = torch.linalg.inv(_RGB_FROM_HED)


def hed_jitter(
    images: torch.Tensor, generator: torch.Generator, scale: float = 0.08, shift: float = 0.03
) -> torch.Tensor:
    """Scale and shift each stain's optical density per image (images B x 3 x H x W in 0..1)."""
    b = images.shape[0]
    device = images.device
    od = -torch.log(images.clamp(min=1e-3))
    hed = torch.einsum("bchw,cd->bdhw", od, _HED_FROM_RGB.to(device))
    alpha = 1 + (torch.rand(b, 3, 1, 1, generator=generator, device=device) * 2 - 1) * scale
    beta = (torch.rand(b, 3, 1, 1, generator=generator, device=device) * 2 - 1) * shift
    od = torch.einsum("bdhw,dc->bchw", hed * alpha + beta, _RGB_FROM_HED.to(device))
    return torch.exp(-od).clamp(0, 1)


def flip_rotate(
    images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One of the 8 dihedral transforms per sample, the same for image and labels."""
    out_images, out_labels = [], []
    choices = torch.randint(0, 8, (images.shape[0],), generator=generator, device=images.device)
    for image, label, choice in zip(images, labels, choices.tolist(), strict=True):
        if choice >= 4:
            image, label = image.flip(-1), label.flip(-1)
        k = choice % 4
        out_images.append(torch.rot90(image, k, (-2, -1)))
        out_labels.append(torch.rot90(label, k, (-2, -1)))
    return torch.stack(out_images), torch.stack(out_labels)


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
