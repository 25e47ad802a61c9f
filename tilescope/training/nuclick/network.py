"""tilescope's NuClick-style network: a 5-level U-Net with GroupNorm (1.9 M parameters).

Input N x 5 x H x W: RGB scaled to [0, 1], inclusion map, exclusion map (H, W multiples of
16); output N x 1 x H x W mask logits. The RGB centring lives inside the network so the
ONNX model is fed exactly like the published NuClick (RGB / 255 + two binary maps).
GroupNorm rather than BatchNorm: no running statistics to drift, eval equals train.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels // 4), channels)


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            _norm(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            _norm(cout),
            nn.ReLU(inplace=True),
        )


class ClickUNet(nn.Module):
    """U-Net: `levels` resolutions, `base` channels doubling per level."""

    def __init__(self, in_channels: int = 5, base: int = 16, levels: int = 5) -> None:
        super().__init__()
        widths = [base * 2**i for i in range(levels)]
        self.down = nn.ModuleList()
        cin = in_channels
        for width in widths:
            self.down.append(DoubleConv(cin, width))
            cin = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(width * 2, width, 2, stride=2))
            self.merge.append(DoubleConv(width * 2, width))
        self.head = nn.Conv2d(widths[0], 1, 1)
        self.register_buffer("rgb_mean", torch.tensor([0.7, 0.55, 0.7]).view(1, 3, 1, 1))
        self.register_buffer("rgb_scale", torch.tensor(4.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = (x[:, :3] - self.rgb_mean) * self.rgb_scale
        x = torch.cat([rgb, x[:, 3:]], dim=1)
        skips = []
        for index, block in enumerate(self.down):
            if index:
                x = nn.functional.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
