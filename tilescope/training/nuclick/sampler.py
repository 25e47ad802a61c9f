"""Training batches synthesised on the device from the stored crops, with augmentation.

All crops live in one tensor on the training device; each batch picks objects, places the
patch so that the click lands at the patch centre (as at inference), warps with a random
flip / rot90 / scale (0.8-1.25) through `grid_sample`, draws the guiding signals in patch
coordinates and jitters the stain in optical-density (HED) space plus brightness/contrast.
No DataLoader, no per-sample Python: a 128-patch batch costs a few kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from tilescope.training.nuclick.data import CROP, SQUIGGLE_VARIANTS, ObjectSet

# Ruifrok & Johnston H&E-DAB stain vectors (rows: haematoxylin, eosin, DAB), as in skimage.
_HED_FROM_RGB_INV = np.array(
    [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=np.float64
)
_STAINS = _HED_FROM_RGB_INV / np.linalg.norm(_HED_FROM_RGB_INV, axis=1, keepdims=True)
_STAINS[2] = np.cross(_STAINS[0], _STAINS[1])
_STAINS[2] /= np.linalg.norm(_STAINS[2])


@dataclass(frozen=True)
class SamplerConfig:
    patch: int = 128
    radius: float = 2.0  # click / exclusion disk radius, model pixels (runtime uses the same)
    squiggle_fraction: float = 0.25
    scale_range: tuple[float, float] = (0.8, 1.25)
    stain_sigma: float = 0.15  # HED concentration scale jitter, +-
    stain_bias: float = 0.04
    brightness: float = 0.08
    contrast: tuple[float, float] = (0.8, 1.2)


def disks(points: torch.Tensor, size: int, radius: float) -> torch.Tensor:
    """B x 1 x size x size maps: 1 where a pixel centre lies within `radius` of a point.

    `points` is B x K x 2 (x, y) in patch pixel-corner coordinates (pixel i spans [i, i+1)).
    """
    centres = torch.arange(size, device=points.device, dtype=points.dtype) + 0.5
    dx = centres.view(1, 1, 1, size) - points[..., 0].view(*points.shape[:2], 1, 1)
    dy = centres.view(1, 1, size, 1) - points[..., 1].view(*points.shape[:2], 1, 1)
    inside = (dx * dx + dy * dy) <= radius * radius + 1e-6
    return inside.any(dim=1, keepdim=True).to(points.dtype)


class DeviceSampler:
    """Draws augmented (input, target) batches from an `ObjectSet` held on `device`."""

    def __init__(self, objects: ObjectSet, device: torch.device, config: SamplerConfig) -> None:
        self.device = device
        self.config = config
        self.rgb = torch.from_numpy(objects.rgb).permute(0, 3, 1, 2).contiguous().to(device)
        self.mask = torch.from_numpy(objects.mask)[:, None].to(device)
        self.squiggle = torch.from_numpy(objects.squiggle)[:, None].to(device)
        self.clicks = torch.from_numpy(objects.clicks).to(device)
        self.exclusion = torch.from_numpy(objects.exclusion).to(device)
        is_cluster = torch.from_numpy(objects.is_cluster)
        self.nuclei = torch.nonzero(~is_cluster)[:, 0].to(device)
        self.count = len(objects.rgb)
        self.stains = torch.tensor(_STAINS, dtype=torch.float32, device=device)
        self.stains_inv = torch.linalg.inv(self.stains)

    def _rand(self, *shape: int, gen: torch.Generator) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device=self.device)

    def batch(self, size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(B x 5 x P x P float input, B x 1 x P x P float target)."""
        cfg, dev, p = self.config, self.device, self.config.patch
        squiggle = self._rand(size, gen=gen) < cfg.squiggle_fraction
        any_object = torch.randint(self.count, (size,), generator=gen, device=dev)
        nucleus = self.nuclei[torch.randint(len(self.nuclei), (size,), generator=gen, device=dev)]
        index = torch.where(squiggle, any_object, nucleus)

        # Where the patch centre goes in the crop: the click, or near the object centre.
        pick = torch.randint(self.clicks.shape[1], (size,), generator=gen, device=dev)
        click = self.clicks[index, pick] + (self._rand(size, 2, gen=gen) - 0.5)
        centre_jitter = (self._rand(size, 2, gen=gen) - 0.5) * 12
        centre = torch.where(squiggle[:, None], CROP / 2 + centre_jitter, click)

        # Output -> crop affine: input = centre + A @ (o - delta), o relative to patch centre.
        zoom = torch.exp(
            torch.empty(size, device=dev).uniform_(
                float(np.log(cfg.scale_range[0])), float(np.log(cfg.scale_range[1])), generator=gen
            )
        )
        k = torch.randint(4, (size,), generator=gen, device=dev)
        cos = torch.tensor([1.0, 0.0, -1.0, 0.0], device=dev)[k]
        sin = torch.tensor([0.0, 1.0, 0.0, -1.0], device=dev)[k]
        flip = torch.where(self._rand(size, gen=gen) < 0.5, -1.0, 1.0)
        a = torch.stack(
            [torch.stack([cos * flip, -sin], -1), torch.stack([sin * flip, cos], -1)], -2
        ) / zoom.view(-1, 1, 1)
        delta = self._rand(size, 2, gen=gen) - 0.5  # click within +-0.5 px of the centre
        offsets = torch.arange(p, device=dev, dtype=torch.float32) + 0.5 - p / 2
        oy, ox = torch.meshgrid(offsets, offsets, indexing="ij")
        o = torch.stack([ox, oy], -1).view(1, p, p, 2) - delta.view(-1, 1, 1, 2)
        src = centre.view(-1, 1, 1, 2) + torch.einsum("bij,bhwj->bhwi", a, o)
        grid = src * (2.0 / CROP) - 1.0

        rgb = functional.grid_sample(
            self.rgb[index].float() / 255.0, grid, "bilinear", "border", align_corners=False
        )
        target = functional.grid_sample(
            self.mask[index].float(), grid, "bilinear", "zeros", align_corners=False
        )
        target = (target > 0.5).float()

        # Inclusion: a disk at the click, or a squiggle variant drawn 3 px wide.
        centre_pt = (p / 2 + delta).view(-1, 1, 2)
        click_map = disks(centre_pt, p, cfg.radius)
        bit = torch.randint(SQUIGGLE_VARIANTS, (size,), generator=gen, device=dev)
        planes = (self.squiggle[index].int() >> bit.view(-1, 1, 1, 1)) & 1
        line = functional.grid_sample(
            planes.float(), grid, "bilinear", "zeros", align_corners=False
        )
        line = functional.max_pool2d((line > 0.25).float(), 3, stride=1, padding=1)
        inclusion = torch.where(squiggle.view(-1, 1, 1, 1), line, click_map)

        # Exclusion: a random subset of the neighbours' clicks, jittered, in patch coordinates.
        pts = self.exclusion[index]
        a_inv = torch.linalg.inv(a)
        rel = pts - centre.view(-1, 1, 2)
        out_pts = torch.einsum("bij,bkj->bki", a_inv, rel) + delta.view(-1, 1, 2) + p / 2
        out_pts = out_pts + (self._rand(*out_pts.shape, gen=gen) - 0.5) * 3
        keep = self._rand(*pts.shape[:2], gen=gen) < self._rand(size, 1, gen=gen) * 1.2
        far = torch.full_like(out_pts, -1.0e4)
        exclusion = disks(torch.where(keep[..., None], out_pts, far), p, cfg.radius)
        exclusion = exclusion * (1 - target)  # a neighbour's disk never marks the object

        rgb = self._colour(rgb, gen)
        return torch.cat([rgb, inclusion, exclusion], dim=1), target

    def _colour(self, rgb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """HED jitter in optical density, then brightness and contrast; values in [0, 1]."""
        cfg, b = self.config, rgb.shape[0]
        od = -torch.log((rgb * 255.0 + 1.0) / 256.0)
        conc = torch.einsum("bchw,cs->bshw", od, self.stains_inv)
        alpha = 1 + (self._rand(b, 3, 1, 1, gen=gen) * 2 - 1) * cfg.stain_sigma
        beta = (self._rand(b, 3, 1, 1, gen=gen) * 2 - 1) * cfg.stain_bias
        conc = conc * alpha + beta
        od = torch.einsum("bshw,sc->bchw", conc, self.stains)
        rgb = ((torch.exp(-od) * 256.0) - 1.0) / 255.0
        mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
        lo, hi = cfg.contrast
        contrast = lo + self._rand(b, 1, 1, 1, gen=gen) * (hi - lo)
        bright = (self._rand(b, 1, 1, 1, gen=gen) * 2 - 1) * cfg.brightness
        return ((rgb - mean) * contrast + mean + bright).clamp(0.0, 1.0)
