"""Tiny real ONNX models and synthetic slides with known objects, for inference tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper

from tilescope.plugins.manifest import file_sha256


def identity_model(path: Path, channels: int = 1, size: int | None = None) -> Path:
    """An ONNX graph that returns its input: with scale 1/255 normalisation, 'probability'
    = brightness, so thresholding it finds bright objects exactly."""
    dims: list[Any] = ["N", channels, size or "H", size or "W"]
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("probability", TensorProto.FLOAT, dims)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["probability"])], "id", [x], [y]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def model_folder(
    root: Path,
    *,
    patch: int = 64,
    overlap: int = 32,
    halo: int = 0,
    batch_size: int = 4,
    channels: int = 1,
    onnx_size: int | None = None,
    model_id: str = "test-threshold",
    extra: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
) -> Path:
    folder = root / model_id
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = identity_model(folder / "model.onnx", channels, onnx_size)
    manifest: dict[str, Any] = {
        "format": 1,
        "id": model_id,
        "name": "Threshold test model",
        "version": "1",
        "description": "Bright objects on a dark background.",
        "licence": "Apache-2.0",
        "type": "unet-semantic",
        "onnx": "model.onnx",
        "sha256": file_sha256(onnx_path),
        "input": {
            "mpp": "native",
            "patch_size": patch,
            "overlap": overlap,
            "halo": halo,
            "batch_size": batch_size,
            "channel_order": "gray",
            "normalisation": {"kind": "scale", "scale": 1 / 255},
        },
        "output": {"kind": "instances", "classes": [{"name": "Disc", "colour": "#ff0000"}]},
        "parameters": parameters
        if parameters is not None
        else {"activation": "none", "threshold": 0.5, "min_distance": 0, "min_area": 4},
        "prompted": False,
        "tissue_detection": False,
    }
    manifest.update(extra or {})
    (folder / "tilescope-model.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


def disc_image(
    width: int, height: int, count: int, radius: tuple[int, int] = (4, 10), seed: int = 0
) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """An RGB image of white discs on black, none touching; returns (image, [(cx, cy, r)])."""
    rng = np.random.default_rng(seed)
    discs: list[tuple[float, float, float]] = []
    tries = 0
    while len(discs) < count and tries < 20000:
        tries += 1
        r = float(rng.integers(radius[0], radius[1] + 1))
        cx = float(rng.uniform(r + 1, width - r - 1))
        cy = float(rng.uniform(r + 1, height - r - 1))
        if all((cx - x) ** 2 + (cy - y) ** 2 > (r + q + 3) ** 2 for x, y, q in discs):
            discs.append((cx, cy, r))
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    image = np.zeros((height, width, 3), dtype=np.uint8)
    for cx, cy, r in discs:
        image[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = 255
    return image, discs
