"""A small HoVer-Net-style encoder-decoder (BatchNorm) for CPU training and inference.

One shared U-Net decoder and two light heads: NP (nucleus pixel logit) and HV (horizontal
and vertical distance of each nucleus pixel to its nucleus' centre, in -1..1; Graham et al.
2019). Input: RGB in 0..1, N x 3 x H x W with H and W multiples of `ModelConfig.stride`;
the per-channel normalisation is part of the network (and so of the ONNX graph).

BatchNorm, not GroupNorm: GroupNorm normalises over each input's own height and width, so
the output for a nucleus changes with what else is in the tile (measured: a 286 px tile
padded with glass to 640 px fell from F1 0.68 to 0.02); in eval mode BatchNorm is a fixed
per-channel affine, so the output does not depend on the tile. Against the running-
statistics drift seen with Mask R-CNN, the statistics are recomputed over fresh training
crops before every evaluation (`recalibrate_batchnorm`) and the kept checkpoint is the one
with the best held-out score in eval mode.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional


@dataclass
class ModelConfig:
    widths: tuple[int, ...] = (12, 24, 48, 96, 128)
    convs_per_level: int = 2
    norm: str = "batch"  # "batch" or "group"
    mean: list[float] = field(default_factory=lambda: [0.70, 0.55, 0.70])
    std: list[float] = field(default_factory=lambda: [0.17, 0.20, 0.15])

    @property
    def stride(self) -> int:
        return 2 ** (len(self.widths) - 1)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["widths"] = list(self.widths)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        values = dict(values)
        values["widths"] = tuple(values["widths"])
        return cls(**values)


def make_norm(kind: str, channels: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(max(1, min(8, channels // 4)), channels)
    return nn.BatchNorm2d(channels)


def conv_block(cin: int, cout: int, convs: int, norm: str = "batch") -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [
            nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False),
            make_norm(norm, cout),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class HoverNet(nn.Module):
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        n = config.convs_per_level
        k = config.norm
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(config.std).view(1, 3, 1, 1))
        self.encoders = nn.ModuleList([conv_block(3, w[0], n, k)])
        for cin, cout in itertools.pairwise(w):
            self.encoders.append(conv_block(cin, cout, n, k))
        self.decoders = nn.ModuleList(
            conv_block(w[i + 1] + w[i], w[i], n, k) for i in reversed(range(len(w) - 1))
        )
        self.np_head = nn.Conv2d(w[0], 1, 3, padding=1)
        self.hv_head = nn.Conv2d(w[0], 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """NP logits (N x 1 x H x W) and HV maps (N x 2 x H x W: horizontal, vertical)."""
        x = (x - self.mean) / self.std
        skips = []
        for i, encoder in enumerate(self.encoders):
            if i:
                x = functional.max_pool2d(x, 2)
            x = encoder(x)
            skips.append(x)
        for decoder, skip in zip(self.decoders, reversed(skips[:-1]), strict=True):
            x = functional.interpolate(
                x, size=skip.shape[-2:], mode="bilinear", align_corners=False
            )
            x = decoder(torch.cat([x, skip], dim=1))
        return self.np_head(x), self.hv_head(x)


@torch.no_grad()
def recalibrate_batchnorm(model: HoverNet, batches: list[torch.Tensor]) -> None:
    """Running statistics recomputed as the plain average over `batches` (train-mode pass)."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not norms:
        return
    was_training = model.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for images in batches:
        model(images)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.train(was_training)


class ExportWrapper(nn.Module):
    """The graph that ships: NP as a probability, HV clipped to -1..1, one 3-channel output."""

    def __init__(self, model: HoverNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        np_logits, hv = self.model(x)
        return torch.cat([torch.sigmoid(np_logits), hv.clamp(-1, 1)], dim=1)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Atomic write (a crash while saving never leaves a broken checkpoint)."""
    tmp = Path(path).with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_model(path: Path) -> tuple[HoverNet, dict[str, Any]]:
    payload = torch.load(path, map_location="cpu", weights_only=False)
    model = HoverNet(ModelConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["model"])
    model.eval()
    return model, payload
