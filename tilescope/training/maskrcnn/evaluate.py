"""Held-out scores during training, per organ/source group (`corpus.scores`).

`evaluate_runtime` (the default): the current weights are exported to ONNX in a scratch
model folder and the held-out tiles run through tilescope's runtime exactly as the final
card measures them (`corpus.runtime_eval`: engine tiling into 384 px patches padded with
white glass, ONNX Runtime, mask pasting, polygons). GroupNorm statistics depend on what
else is in the patch, so whole-tile PyTorch figures drift from the runtime's; selecting
the checkpoint on the runtime path keeps the choice and the card on one figure.

`evaluate` (`--eval torch`, quicker on a GPU): the export graph in PyTorch on each whole
tile, detections above the manifest's thresholds pasted with the runtime's `paste_mask`,
higher scores claiming pixels first; the detection cap is raised while evaluating, as a
held-out MoNuSeg tile holds several hundred nuclei (the runtime caps 300 per 384 px patch).
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torchvision.models.detection import MaskRCNN

from tilescope.plugins.hover.postprocess import drop_small
from tilescope.plugins.maskrcnn.paste import paste_mask
from tilescope.training.corpus.scores import score_tile, summarise
from tilescope.training.corpus.sources import CorpusTile
from tilescope.training.corpus.split import group_of
from tilescope.training.maskrcnn.export import ExportableMaskRCNN

SCORE_THRESHOLD = 0.5  # the manifest's score_threshold and mask_threshold
MASK_THRESHOLD = 0.5
MIN_AREA = 6  # the manifest's min_area
EVAL_DETECTIONS = 2000


def paste_labels(
    boxes: np.ndarray, scores: np.ndarray, grids: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """int32 label image of the detections at or above SCORE_THRESHOLD (best score first)."""
    labels = np.zeros(shape, dtype=np.int32)
    next_id = 1
    for index in np.argsort(-scores):
        if scores[index] < SCORE_THRESHOLD:
            break
        pasted = paste_mask(grids[index], boxes[index], shape, MASK_THRESHOLD)
        if pasted is None:
            continue
        h, w = pasted.mask.shape
        window = labels[pasted.y : pasted.y + h, pasted.x : pasted.x + w]
        free = pasted.mask & (window == 0)
        if free.any():
            window[free] = next_id
            next_id += 1
    return drop_small(labels, MIN_AREA)


@torch.no_grad()
def predict_labels(model: MaskRCNN, image: np.ndarray, device: torch.device) -> np.ndarray:
    """Instance labels of one H x W x 3 uint8 tile (model left in the mode it was in)."""
    was_training = model.training
    roi, rpn = model.roi_heads, model.rpn
    saved = roi.detections_per_img, dict(rpn._pre_nms_top_n), dict(rpn._post_nms_top_n)
    roi.detections_per_img = EVAL_DETECTIONS
    rpn._pre_nms_top_n["testing"] = max(saved[1]["testing"], 2 * EVAL_DETECTIONS)
    rpn._post_nms_top_n["testing"] = max(saved[2]["testing"], EVAL_DETECTIONS)
    try:
        wrapper = ExportableMaskRCNN(model).to(device)
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None]  # a writable copy
        boxes, _labels, scores, masks = wrapper(x.float().div(255).to(device))
    finally:
        roi.detections_per_img = saved[0]
        rpn._pre_nms_top_n.update(saved[1])
        rpn._post_nms_top_n.update(saved[2])
        model.train(was_training)
    return paste_labels(
        boxes.cpu().numpy(), scores.cpu().numpy(), masks[:, 0].cpu().numpy(), image.shape[:2]
    )


def evaluate(
    model: MaskRCNN, tiles: list[CorpusTile], device: torch.device
) -> dict[str, dict[str, float]]:
    """F1@0.5 / AJI / PQ per held-out group and their macro mean (`corpus.scores.summarise`)."""
    scores = [
        score_tile(group_of(t), t.name, t.labels, predict_labels(model, t.image, device))
        for t in tiles
    ]
    return summarise(scores)


def evaluate_runtime(
    model: MaskRCNN, tiles: list[CorpusTile], threads: int = 1, folder: Path | None = None
) -> dict[str, dict[str, float]]:
    """The figures the model card would show for these weights (ONNX Runtime on the CPU)."""
    from tilescope.plugins.catalog import load_model
    from tilescope.training.corpus.runtime_eval import evaluate_instances
    from tilescope.training.maskrcnn.card import ONNX_NAME, write_model_folder
    from tilescope.training.maskrcnn.export import export_onnx

    was_training = model.training
    snapshot = copy.deepcopy(model).cpu().eval()  # export moves its model to the CPU
    model.train(was_training)
    example = np.ascontiguousarray(max(tiles, key=lambda t: t.labels.size).image[:256, :256])
    with tempfile.TemporaryDirectory() as scratch:
        where = Path(folder or scratch)
        where.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # the tracer's warnings, once per evaluation
            warnings.simplefilter("ignore")
            onnx_path = export_onnx(snapshot, where / ONNX_NAME, example)
        write_model_folder(where, onnx_path, {}, {}, {})
        summary, _, _ = evaluate_instances(load_model(where, device="cpu", threads=threads), tiles)
    return summary
