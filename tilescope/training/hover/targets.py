"""Training targets and losses (HoVer-Net: BCE + Dice on NP; MSE + gradient MSE on HV)."""

from __future__ import annotations

import torch
from torch.nn import functional


def hv_targets(labels: torch.Tensor) -> torch.Tensor:
    """B x 2 x H x W horizontal/vertical distance to each nucleus' centroid, each side of the
    centre scaled to 0..1 by that nucleus' extent (so -1..1 across it); 0 on background."""
    b, h, w = labels.shape
    out = torch.zeros(b, 2, h, w)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    for i in range(b):
        lab = labels[i].reshape(-1).long()
        n = int(lab.max()) + 1
        if n == 1:
            continue
        counts = torch.bincount(lab, minlength=n).clamp(min=1).float()
        for axis, coords in enumerate((xs.reshape(-1), ys.reshape(-1))):
            centre = torch.bincount(lab, weights=coords, minlength=n) / counts
            d = coords - centre[lab]
            top = torch.zeros(n).scatter_reduce(0, lab, d, "amax", include_self=True)
            bottom = torch.zeros(n).scatter_reduce(0, lab, d, "amin", include_self=True)
            scaled = torch.where(
                d > 0, d / top[lab].clamp(min=1e-6), d / (-bottom[lab]).clamp(min=1e-6)
            )
            scaled[lab == 0] = 0
            out[i, axis] = scaled.reshape(h, w)
    return out


_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


def _gradients(hv: torch.Tensor) -> torch.Tensor:
    """dH/dx and dV/dy (B x 2 x H x W) with Sobel kernels."""
    kx = _SOBEL.view(1, 1, 3, 3).to(hv)
    ky = _SOBEL.t().contiguous().view(1, 1, 3, 3).to(hv)
    gx = functional.conv2d(functional.pad(hv[:, :1], (1, 1, 1, 1), mode="replicate"), kx)
    gy = functional.conv2d(functional.pad(hv[:, 1:], (1, 1, 1, 1), mode="replicate"), ky)
    return torch.cat([gx, gy], dim=1)


def losses(
    np_logits: torch.Tensor, hv: torch.Tensor, labels: torch.Tensor, hv_target: torch.Tensor
) -> dict[str, torch.Tensor]:
    fg = (labels > 0).float().unsqueeze(1)
    bce = functional.binary_cross_entropy_with_logits(np_logits, fg)
    prob = torch.sigmoid(np_logits)
    inter = (prob * fg).sum(dim=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (prob.sum(dim=(1, 2, 3)) + fg.sum(dim=(1, 2, 3)) + 1)
    mse = functional.mse_loss(hv, hv_target)
    grad_err = (_gradients(hv) - _gradients(hv_target)) ** 2 * fg
    msge = grad_err.sum() / (2 * fg.sum()).clamp(min=1)
    # Per-pixel gradients are small (about 2 / diameter): x16 brings the term to the scale
    # of the others.
    return {"bce": bce, "dice": dice.mean(), "mse": 2 * mse, "msge": 16 * msge}
