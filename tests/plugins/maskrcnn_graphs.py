"""Tiny Mask R-CNN-shaped ONNX models built with the `onnx` helper API, for tests.

The graph ignores its image (any H x W) and returns constant detections, so the expected
polygons are known exactly. `write_model_folder` writes the ONNX file and a manifest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper


def disk_grid(size: int = 28, radius: float = 11.0) -> np.ndarray:
    """A size x size probability grid: 1 inside a centred disk, 0 outside."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    return ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= radius**2).astype(np.float32)


def constant_graph(outputs: dict[str, np.ndarray], input_name: str = "image") -> bytes:
    """An ONNX model (opset 17) with input float32 [1, 3, H, W] and constant `outputs`.

    Each output is Identity(constant); the image is read (ReduceMax) and multiplied by 0
    into the first output so the input is a real dependency of the graph.
    """
    nodes, values = [], []
    image = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, "h", "w"])
    nodes.append(helper.make_node("ReduceMax", [input_name], ["image_max"], keepdims=0))
    nodes.append(
        helper.make_node(
            "Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.float32))
        )
    )
    nodes.append(helper.make_node("Mul", ["image_max", "zero"], ["nothing"]))
    for index, (name, array) in enumerate(outputs.items()):
        const = f"{name}_const"
        nodes.append(
            helper.make_node("Constant", [], [const], value=numpy_helper.from_array(array, const))
        )
        if index == 0 and array.dtype == np.float32:
            nodes.append(helper.make_node("Add", [const, "nothing"], [name]))
        else:
            nodes.append(helper.make_node("Identity", [const], [name]))
        elem = helper.np_dtype_to_tensor_dtype(array.dtype)
        values.append(helper.make_tensor_value_info(name, elem, list(array.shape)))
    graph = helper.make_graph(nodes, "maskrcnn_shaped", [image], values)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_model_folder(
    folder: Path,
    outputs: dict[str, np.ndarray],
    parameters: dict[str, Any],
    patch_size: int = 128,
    overlap: int = 0,
    mpp: float | str = "native",
    classes: tuple[str, ...] = ("Nucleus",),
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = constant_graph(outputs)
    (folder / "model.onnx").write_bytes(data)
    manifest = {
        "format": 1,
        "id": folder.name,
        "name": "test Mask R-CNN",
        "version": "0",
        "description": "constant detections for tests",
        "licence": "Apache-2.0",
        "type": "maskrcnn",
        "onnx": "model.onnx",
        "sha256": hashlib.sha256(data).hexdigest(),
        "input": {
            "mpp": mpp,
            "patch_size": patch_size,
            "overlap": overlap,
            "halo": 0,
            "batch_size": 2,
            "channel_order": "RGB",
            "normalisation": {"kind": "scale", "scale": 1 / 255},
        },
        "output": {"kind": "instances", "classes": [{"name": c} for c in classes]},
        "parameters": parameters,
        "prompted": False,
        "tissue_detection": False,
    }
    (folder / "tilescope-model.yaml").write_text(yaml.safe_dump(manifest), "utf-8")
    return folder
