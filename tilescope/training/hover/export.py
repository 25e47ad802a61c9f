"""ONNX export of a checkpoint (opset 17, dynamic batch, height and width) and its check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tilescope.training.hover.model import ExportWrapper, load_model

INPUT_NAME = "image"
OUTPUT_NAME = "maps"
OPSET = 17


def export_checkpoint(checkpoint: Path, onnx_path: Path) -> dict[str, Any]:
    """Write `onnx_path`; returns size and the ONNX Runtime vs PyTorch difference."""
    model, payload = load_model(checkpoint)
    wrapper = ExportWrapper(model).eval()
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(1, 3, 256, 256)
    torch.onnx.export(
        wrapper,
        (example,),
        str(onnx_path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "n", 2: "h", 3: "w"}, OUTPUT_NAME: {0: "n", 2: "h", 3: "w"}},
        opset_version=OPSET,
        dynamo=False,
    )
    return {
        "onnx": str(onnx_path),
        "bytes": onnx_path.stat().st_size,
        "max_abs_diff": compare(wrapper, onnx_path),
        "step": payload["state"]["step"],
        "minutes": round(payload["state"]["seconds"] / 60, 1),
    }


@torch.no_grad()
def compare(wrapper: ExportWrapper, onnx_path: Path) -> float:
    """Largest |ORT - torch| over two inputs of different sizes (dynamic H/W checked)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    generator = torch.Generator().manual_seed(0)
    for shape in ((1, 3, 256, 256), (2, 3, 320, 192)):
        x = torch.rand(*shape, generator=generator)
        expected = wrapper(x).numpy()
        got = session.run(None, {INPUT_NAME: x.numpy()})[0]
        worst = max(worst, float(np.abs(expected - got).max()))
    return worst
