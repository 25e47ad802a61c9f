"""Per-batch augmentations shared by the nuclei models (torch; the `train` extra).

Images are B x 3 x H x W floats in 0..1; labels B x H x W integer instance ids.
Geometry (flips, rot90) is applied to images and labels together, before any target is
derived from the labels; the photometric ones touch the image only.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torch.nn import functional

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


def brightness_contrast(
    images: torch.Tensor, generator: torch.Generator, amount: float = 0.12
) -> torch.Tensor:
    b = images.shape[0]
    gain = 1 + (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * amount
    bias = (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * amount * 0.5
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * gain + mean + bias).clamp(0, 1)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, round(2.5 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    pad = functional.pad(images, (radius, radius, radius, radius), mode="reflect")
    out = functional.conv2d(pad, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return functional.conv2d(out, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of one 3 x H x W image (compression artefacts of scanners)."""
    array = (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        back = np.asarray(decoded.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(back).permute(2, 0, 1)


def blur_and_noise(
    images: torch.Tensor, generator: torch.Generator, p_blur: float = 0.2, p_jpeg: float = 0.2
) -> torch.Tensor:
    """Per image: a Gaussian blur (sigma 0.4-1.2 px) and/or a JPEG round trip (quality 40-90)."""
    out = []
    draws = torch.rand(images.shape[0], 4, generator=generator).tolist()
    for image, (u_blur, s_blur, u_jpeg, q_jpeg) in zip(images, draws, strict=True):
        if u_blur < p_blur:
            image = gaussian_blur(image[None], 0.4 + 0.8 * s_blur)[0]
        if u_jpeg < p_jpeg:
            image = jpeg(image, int(40 + 50 * q_jpeg))
        out.append(image)
    return torch.stack(out).clamp(0, 1)
