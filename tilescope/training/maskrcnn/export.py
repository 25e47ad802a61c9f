"""ONNX export without in-graph mask pasting, and a check of ONNX Runtime against PyTorch.

The stock export pastes every mask at full image size inside the graph (0.85 GB of floats
for 444 detections, TRAINING-NOTES); this graph stops at the 28 x 28 mask probabilities,
which the app pastes in numpy. Input: float32 1 x 3 x H x W RGB in 0..1, any H and W; the
normalisation (mean/std) happens in the graph, and the image is not resized.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.image_list import ImageList

INPUT_NAME = "image"
OUTPUT_NAMES = ("boxes", "labels", "scores", "mask_probs")
OPSET = 17


class ExportableMaskRCNN(nn.Module):
    """Mask R-CNN up to the per-detection 28 x 28 masks: no resize, no pasting."""

    def __init__(self, model: MaskRCNN) -> None:
        super().__init__()
        self.model = model.eval()
        transform = model.transform
        self.register_buffer("mean", torch.tensor(transform.image_mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(transform.image_std).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = (image - self.mean) / self.std
        sizes = [(x.shape[-2], x.shape[-1])]
        # Zero-pad to a multiple of 32 as torchvision's transform does: the anchor generator
        # derives each level's stride from image size // feature size.
        padded = self.model.transform.batch_images([x[0]])
        images = ImageList(padded, sizes)
        features = self.model.backbone(padded)
        proposals, _ = self.model.rpn(images, features)
        detections, _ = self.model.roi_heads(features, proposals, images.image_sizes)
        d = detections[0]
        return d["boxes"], d["labels"], d["scores"], d["masks"]


def export_onnx(model: MaskRCNN, path: Path, example: np.ndarray) -> Path:
    """Write `path` (opset 17, dynamic height and width); `example` is an H x W x 3 uint8 tile."""
    wrapper = ExportableMaskRCNN(model.cpu()).eval()
    tensor = torch.from_numpy(example).permute(2, 0, 1)[None].float().div(255)
    torch.onnx.export(
        wrapper,
        (tensor,),
        str(path),
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        dynamic_axes={
            INPUT_NAME: {2: "height", 3: "width"},
            "boxes": {0: "detections"},
            "labels": {0: "detections"},
            "scores": {0: "detections"},
            "mask_probs": {0: "detections"},
        },
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    import onnx

    onnx.checker.check_model(str(path))
    return Path(path)


def compare_with_onnxruntime(model: MaskRCNN, path: Path, image: np.ndarray) -> dict:
    """Run PyTorch and ONNX Runtime on the same tile; differences of matched outputs."""
    import onnxruntime as ort

    wrapper = ExportableMaskRCNN(model.cpu()).eval()
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255)
    with torch.no_grad():
        reference = [t.numpy() for t in wrapper(tensor)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(list(OUTPUT_NAMES), {INPUT_NAME: tensor.numpy()})
    with torch.no_grad():
        stock = model.eval()([tensor[0]])[0]
    report: dict = {
        "stock_torchvision_above_0.5": int((stock["scores"] >= 0.5).sum()),
        "export_graph_above_0.5": int((reference[2] >= 0.5).sum()),
        "max_abs_diff_stock_scores": float(
            np.abs(stock["scores"].numpy()[:20] - reference[2][:20]).max(initial=0.0)
        ),
        "torch_detections": len(reference[0]),
        "ort_detections": len(outputs[0]),
    }
    n = min(len(reference[0]), len(outputs[0]))
    # Keep the confident detections: near-threshold ones may swap order in NMS.
    confident = int(np.sum(reference[2][:n] >= 0.5))
    for name, ref, got in zip(OUTPUT_NAMES, reference, outputs, strict=True):
        if name == "labels":
            continue
        diff = np.abs(ref[:confident].astype(np.float64) - got[:confident].astype(np.float64))
        report[f"max_abs_diff_{name}"] = float(diff.max()) if diff.size else 0.0
    report["compared_detections"] = confident
    # Another size than the export example: the graph must not have frozen H and W.
    other = torch.from_numpy(np.ascontiguousarray(image[:200, :230])).permute(2, 0, 1)[None]
    other = other.float().div(255)
    with torch.no_grad():
        expected = wrapper(other)[2].numpy()
    got_scores = session.run(["scores"], {INPUT_NAME: other.numpy()})[0]
    m = min(len(expected), len(got_scores), 20)
    report["other_size_max_abs_diff_scores"] = float(
        np.abs(expected[:m] - got_scores[:m]).max(initial=0.0)
    )
    return report
