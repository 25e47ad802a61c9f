"""Mapping a Mask R-CNN-style ONNX model's outputs to detections, by output name.

torchvision, Detectron2 and mmdetection exports differ mostly in naming and packing: boxes
N x 4 (x0, y0, x1, y1) with a separate score vector, or mmdetection's `dets` N x 5 whose last
column is the score; masks N x 1 x h x w or N x h x w, either small per-box grids (28 x 28)
or already pasted at image size; an optional leading batch axis of 1. The manifest names the
outputs (parameters `boxes_output`, `scores_output`, ...), so a new export needs no code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tilescope.engine.errors import TilescopeError


class OutputMappingError(TilescopeError, ValueError):
    """The model's outputs do not match what the manifest declares; names the problem."""


@dataclass(frozen=True, slots=True)
class OutputNames:
    """Which ONNX output holds what. `scores` may equal `boxes` (score = 5th box column);
    `labels` may be empty (single-class models)."""

    boxes: str = "boxes"
    scores: str = "scores"
    masks: str = "mask_probs"
    labels: str = "labels"

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> OutputNames:
        return cls(
            boxes=str(parameters.get("boxes_output", "boxes")),
            scores=str(parameters.get("scores_output", "scores")),
            masks=str(parameters.get("masks_output", "mask_probs")),
            labels=str(parameters.get("labels_output", "labels")),
        )

    def required(self) -> tuple[str, ...]:
        names = [self.boxes, self.scores, self.masks] + ([self.labels] if self.labels else [])
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class Detections:
    """One image's detections: boxes N x 4 (x0, y0, x1, y1, model pixels), scores N,
    labels N (int64), masks N x h x w float32 (per-box grids, or image-size when `pasted`)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    pasted: bool

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, keep: np.ndarray) -> Detections:
        return Detections(
            self.boxes[keep], self.scores[keep], self.labels[keep], self.masks[keep], self.pasted
        )


def check_output_names(available: Sequence[str], names: OutputNames) -> None:
    """Every declared output exists in the model (raise with the names the model has)."""
    missing = [n for n in names.required() if n not in available]
    if missing:
        raise OutputMappingError(
            f"the model has no output named {missing[0]!r} (its outputs: {', '.join(available)}); "
            "set boxes_output/scores_output/labels_output/masks_output in the manifest's parameters"
        )


def _drop_batch_axis(array: np.ndarray, ndim: int, what: str) -> np.ndarray:
    if array.ndim == ndim + 1 and array.shape[0] == 1:
        return array[0]
    if array.ndim != ndim:
        raise OutputMappingError(f"{what} output has shape {array.shape}, expected {ndim} axes")
    return array


def to_detections(
    outputs: Mapping[str, np.ndarray],
    names: OutputNames,
    image_size: tuple[int, int],
    masks_are: str = "probabilities",
) -> Detections:
    """Detections of one image from its named outputs; `image_size` is (height, width)."""
    boxes = np.asarray(outputs[names.boxes], dtype=np.float32)
    if boxes.ndim == 3 and boxes.shape[0] == 1:
        boxes = boxes[0]
    if boxes.ndim != 2 or boxes.shape[1] not in (4, 5):
        raise OutputMappingError(f"boxes output has shape {boxes.shape}, expected N x 4 or N x 5")
    if names.scores == names.boxes:
        if boxes.shape[1] != 5:
            raise OutputMappingError(
                "scores_output names the boxes output, which has no 5th column"
            )
        scores = boxes[:, 4].copy()
    else:
        scores = _drop_batch_axis(np.asarray(outputs[names.scores], dtype=np.float32), 1, "scores")
    boxes = boxes[:, :4]
    n = len(boxes)
    if names.labels:
        labels = _drop_batch_axis(np.asarray(outputs[names.labels]), 1, "labels").astype(np.int64)
    else:
        labels = np.zeros(n, dtype=np.int64)
    masks = np.asarray(outputs[names.masks], dtype=np.float32)
    if masks.ndim == 5 and masks.shape[0] == 1:
        masks = masks[0]
    if masks.ndim == 4 and masks.shape[0] == 1 and masks.shape[1] == n != 1:
        masks = masks[0]  # 1 x N x H x W: a batch axis, not N x C x h x w
    if masks.ndim == 4:
        if masks.shape[1] != 1:
            # Class-specific mask channels (one per class): take each detection's own class.
            index = np.clip(labels, 0, masks.shape[1] - 1)
            masks = masks[np.arange(len(masks)), index]
        else:
            masks = masks[:, 0]
    if masks.ndim != 3:
        raise OutputMappingError(f"masks output has shape {masks.shape}, expected N x [1 x] h x w")
    if not (len(scores) == n == len(labels) == len(masks)):
        raise OutputMappingError(
            f"outputs disagree on the number of detections: boxes {n}, scores {len(scores)}, "
            f"labels {len(labels)}, masks {len(masks)}"
        )
    if masks_are == "logits":
        masks = (1.0 / (1.0 + np.exp(-np.clip(masks, -60.0, 60.0)))).astype(np.float32)
    elif masks_are != "probabilities":
        raise OutputMappingError(
            f"masks_are must be 'probabilities' or 'logits', got {masks_are!r}"
        )
    pasted = masks.shape[1:] == tuple(image_size) and masks.shape[1] > 64
    return Detections(boxes, scores.astype(np.float32), labels, masks.astype(np.float32), pasted)
