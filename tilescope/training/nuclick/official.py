"""The original NuClick network, laid out so that the published PyTorch state dicts load.

Koohbanani et al. released NuClick weights for PyTorch (the authors' nuclick_torch
repository; TIAToolbox's `nuclick_original` uses the same module names). This module
re-states that architecture: module names and shapes follow the released state dict
(`conv_block_1.0.conv_bn_relu.0.weight`, `residual_block_4.2.conv_block_2...`), the code is
ours. Input N x 5 x H x W (RGB / 255, inclusion, exclusion; H, W multiples of 32), output
mask logits.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

BN_EPS = 1.001e-5  # the Keras default the original was first written with


class ConvBnRelu(nn.Module):
    """Conv (same padding) -> optional BatchNorm -> optional ReLU, as `conv_bn_relu`."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        dilation: int = 1,
        bias: bool = False,
        batchnorm: bool = True,
        relu: bool = True,
    ) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation, bias=bias)
        ]
        if batchnorm:
            layers.append(nn.BatchNorm2d(cout, eps=BN_EPS))
        if relu:
            layers.append(nn.ReLU())
        self.conv_bn_relu = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_bn_relu(x)


class ResidualConv(nn.Module):
    """relu(a + b(a)) with a = BN(conv(x)), b = BN(conv(.))."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv_block_1 = ConvBnRelu(cin, cout, relu=False)
        self.conv_block_2 = ConvBnRelu(cout, cout, relu=False)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.conv_block_1(x)
        return self.activation(first + self.conv_block_2(first))


class MultiscaleConv(nn.Module):
    """Four parallel dilated convolutions, concatenated."""

    def __init__(self, cin: int, cout: int, kernels: list[int], dilations: list[int]) -> None:
        super().__init__()
        for index, (k, d) in enumerate(zip(kernels, dilations, strict=True), start=1):
            setattr(self, f"conv_block_{index}", ConvBnRelu(cin, cout, k, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, f"conv_block_{i}")(x) for i in range(1, 5)], dim=1)


def _residuals(*widths: int) -> nn.Module:
    """ResidualConv blocks through `widths`; a single block is not wrapped (state-dict names)."""
    blocks = [ResidualConv(a, b) for a, b in itertools.pairwise(widths)]
    return blocks[0] if len(blocks) == 1 else nn.Sequential(*blocks)


class NuClickOriginal(nn.Module):
    def __init__(self, in_channels: int = 5, out_channels: int = 1) -> None:
        super().__init__()
        self.conv_block_1 = nn.Sequential(
            ConvBnRelu(in_channels, 64, 7), ConvBnRelu(64, 32, 5), ConvBnRelu(32, 32, 3)
        )
        self.conv_block_2 = nn.Sequential(
            ConvBnRelu(64, 64), ConvBnRelu(64, 32), ConvBnRelu(32, 32)
        )
        self.conv_block_3 = ConvBnRelu(32, out_channels, 1, bias=True, batchnorm=False, relu=False)
        self.residual_block_1 = _residuals(32, 64, 64)
        self.residual_block_2 = _residuals(64, 128)
        self.residual_block_3 = _residuals(128, 128)
        self.residual_block_4 = _residuals(128, 256, 256, 256)
        self.residual_block_5 = _residuals(256, 512, 512, 512)
        self.residual_block_6 = _residuals(512, 1024, 1024)
        self.residual_block_7 = _residuals(1024, 512, 256)
        self.residual_block_8 = _residuals(512, 256)
        self.residual_block_9 = _residuals(256, 256)
        self.residual_block_10 = _residuals(256, 128, 128)
        self.residual_block_11 = _residuals(128, 64)
        self.residual_block_12 = _residuals(64, 64)
        self.multiscale_block_1 = MultiscaleConv(128, 32, [3, 3, 5, 5], [1, 3, 3, 6])
        self.multiscale_block_2 = MultiscaleConv(256, 64, [3, 3, 5, 5], [1, 3, 2, 3])
        self.multiscale_block_3 = MultiscaleConv(64, 16, [3, 3, 5, 7], [1, 3, 2, 6])
        for index, (cin, cout) in enumerate(
            [(1024, 512), (256, 256), (256, 128), (128, 64), (64, 32)], start=1
        ):
            setattr(self, f"conv_transpose_{index}", nn.ConvTranspose2d(cin, cout, 2, stride=2))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.conv_block_1(x)
        c2 = self.residual_block_1(self.pool(c1))
        c3 = self.residual_block_3(self.multiscale_block_1(self.residual_block_2(self.pool(c2))))
        c4 = self.residual_block_4(self.pool(c3))
        c5 = self.residual_block_5(self.pool(c4))
        c6 = self.residual_block_6(self.pool(c5))
        u = self.residual_block_7(torch.cat([self.conv_transpose_1(c6), c5], dim=1))
        u = self.residual_block_8(torch.cat([self.conv_transpose_2(u), c4], dim=1))
        u = self.residual_block_9(self.multiscale_block_2(u))
        u = self.residual_block_10(torch.cat([self.conv_transpose_3(u), c3], dim=1))
        u = self.residual_block_11(torch.cat([self.conv_transpose_4(u), c2], dim=1))
        u = self.residual_block_12(self.multiscale_block_3(u))
        u = self.conv_block_2(torch.cat([self.conv_transpose_5(u), c1], dim=1))
        return self.conv_block_3(u)
