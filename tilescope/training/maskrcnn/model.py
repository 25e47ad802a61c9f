"""A slim Mask R-CNN for nuclei at 0.5 um/px, built from torchvision parts, GroupNorm throughout.

GroupNorm instead of BatchNorm: with small batches the BatchNorm running statistics drifted
and detection scores collapsed at inference while the loss kept falling (TRAINING-NOTES).
Nuclei are ~10 px across at 0.5 um/px, so the FPN starts at stride 4 and anchors at 8 px.
The stock resize in GeneralizedRCNNTransform is switched off: tiles are fed at their size.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.models.resnet import BasicBlock
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool


@dataclass
class ModelConfig:
    stem: int = 32
    stages: tuple[int, ...] = (48, 96, 160)  # strides 4, 8, 16
    blocks: int = 2
    fpn: int = 96
    box_repr: int = 128
    mask_layers: tuple[int, ...] = (96, 96, 96, 96)
    anchor_sizes: tuple[tuple[int, ...], ...] = ((8, 12), (16, 24), (32, 48), (64, 128))
    num_classes: int = 2  # background + nucleus
    image_mean: list[float] = field(default_factory=lambda: [0.7, 0.5, 0.7])
    image_std: list[float] = field(default_factory=lambda: [0.15, 0.18, 0.12])
    detections_per_img: int = 300
    score_thresh: float = 0.05

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        values = dict(values)
        for key in ("stages", "mask_layers"):
            values[key] = tuple(values[key])
        values["anchor_sizes"] = tuple(tuple(a) for a in values["anchor_sizes"])
        return cls(**values)


#: Trunk/head widths compared side by side (model card): "slim" is the shipped model.
ARCHITECTURES: dict[str, dict[str, object]] = {
    "slim": {},
    "wide": {"stages": (64, 128, 192), "fpn": 128, "mask_layers": (128, 128, 128, 128)},
}


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(16, channels // 4), channels)


class SlimResNet(nn.Module):
    """ResNet-style trunk (BasicBlocks, GroupNorm) with outputs at strides 4, 8 and 16."""

    def __init__(self, stem: int, stages: tuple[int, ...], blocks: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem, 3, stride=2, padding=1, bias=False),
            group_norm(stem),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem, stem, 3, padding=1, bias=False),
            group_norm(stem),
            nn.ReLU(inplace=True),
        )
        channels = stem
        for index, width in enumerate(stages):
            layers = []
            for b in range(blocks):
                stride = 2 if b == 0 else 1
                downsample = None
                if stride != 1 or channels != width:
                    downsample = nn.Sequential(
                        nn.Conv2d(channels, width, 1, stride=stride, bias=False), group_norm(width)
                    )
                layers.append(
                    BasicBlock(channels, width, stride, downsample, norm_layer=group_norm)
                )
                channels = width
            self.add_module(f"layer{index + 1}", nn.Sequential(*layers))


class NoResizeTransform(GeneralizedRCNNTransform):
    """Normalise and batch, but never resize: the tile is already at the model's mpp."""

    def resize(self, image, target=None):  # type: ignore[no-untyped-def]
        return image, target


def build_model(config: ModelConfig) -> MaskRCNN:
    trunk = SlimResNet(config.stem, config.stages, config.blocks)
    return_layers = {f"layer{i + 1}": str(i) for i in range(len(config.stages))}
    backbone = BackboneWithFPN(
        trunk,
        return_layers=return_layers,
        in_channels_list=list(config.stages),
        out_channels=config.fpn,
        extra_blocks=LastLevelMaxPool(),
    )
    levels = [str(i) for i in range(len(config.stages))]
    anchors = AnchorGenerator(config.anchor_sizes, ((0.5, 1.0, 2.0),) * len(config.anchor_sizes))
    model = MaskRCNN(
        backbone,
        num_classes=None,
        rpn_anchor_generator=anchors,
        box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2),
        box_head=TwoMLPHead(config.fpn * 7 * 7, config.box_repr),
        box_predictor=FastRCNNPredictor(config.box_repr, config.num_classes),
        mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2),
        mask_head=MaskRCNNHeads(config.fpn, list(config.mask_layers), 1),
        mask_predictor=MaskRCNNPredictor(
            config.mask_layers[-1], config.mask_layers[-1], config.num_classes
        ),
        rpn_pre_nms_top_n_train=2000,
        rpn_post_nms_top_n_train=1000,
        rpn_pre_nms_top_n_test=1000,
        rpn_post_nms_top_n_test=600,
        rpn_batch_size_per_image=256,
        box_batch_size_per_image=256,
        box_score_thresh=config.score_thresh,
        box_detections_per_img=config.detections_per_img,
    )
    model.transform = NoResizeTransform(
        min_size=1, max_size=100000, image_mean=config.image_mean, image_std=config.image_std
    )
    return model


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_checkpoint(path, map_location="cpu") -> tuple[MaskRCNN, ModelConfig, dict]:  # type: ignore[no-untyped-def]
    """Model, config and the metadata saved with it (weights_only: no arbitrary pickles)."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    config = ModelConfig.from_dict(state["config"])
    model = build_model(config)
    model.load_state_dict(state["model"])
    model.eval()
    return model, config, state.get("meta", {})


def save_checkpoint(path, model: MaskRCNN, config: ModelConfig, meta: dict) -> None:  # type: ignore[no-untyped-def]
    state = {"model": OrderedDict(model.state_dict()), "config": config.to_dict(), "meta": meta}
    torch.save(state, path)


def average_checkpoints(paths: list[Path]) -> tuple[MaskRCNN, ModelConfig, dict]:
    """The uniform mean of several checkpoints' weights (stochastic weight averaging).

    GroupNorm has no running statistics, so the mean needs no recalibration pass. The
    checkpoints must share one config: they are snapshots of one run.
    """
    if not paths:
        raise ValueError("average: no checkpoints given")
    model, config, meta = load_checkpoint(paths[0])
    total = {k: v.double().clone() for k, v in model.state_dict().items()}
    steps = [meta.get("step")]
    for path in paths[1:]:
        other, other_config, other_meta = load_checkpoint(path)
        if other_config != config:
            raise ValueError(f"{path}: a different model config; average snapshots of one run")
        for key, value in other.state_dict().items():
            total[key] += value.double()
        steps.append(other_meta.get("step"))
    averaged = {k: (v / len(paths)).to(model.state_dict()[k].dtype) for k, v in total.items()}
    model.load_state_dict(averaged)
    model.eval()
    return model, config, {"step": max(s for s in steps if s is not None), "averaged_steps": steps}
