"""ONNX export with a dynamic batch (and patch size), checked against PyTorch, and the model
folder (ONNX + `tilescope-model.yaml` + model card) in tilescope's plugin format.

The manifest is written by hand (no PyYAML on training machines); it is plain YAML that
`tilescope.plugins.manifest.load_manifest` reads.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

OPSET = 17
MANIFEST_NAME = "tilescope-model.yaml"


def export_onnx(model: torch.nn.Module, path: Path, patch: int = 128) -> None:
    """Export in eval mode on the CPU, float32, batch/height/width dynamic."""
    model = model.to("cpu").float().eval()
    dummy = torch.zeros(2, 5, patch, patch)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        opset_version=OPSET,
        dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}},
        dynamo=False,
    )


def random_inputs(batch: int, patch: int, seed: int = 0) -> np.ndarray:
    """Realistic-range inputs: RGB in [0, 1], binary guiding maps."""
    rng = np.random.default_rng(seed)
    rgb = rng.random((batch, 3, patch, patch), dtype=np.float32)
    maps = (rng.random((batch, 2, patch, patch)) < 0.02).astype(np.float32)
    return np.concatenate([rgb, maps], axis=1)


def verify_onnx(model: torch.nn.Module, path: Path, patch: int = 128) -> float:
    """Max |ONNX Runtime - PyTorch| over random batches of two sizes; raises above 1e-4."""
    import onnxruntime as ort

    model = model.to("cpu").float().eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch, size in ((1, patch), (3, patch), (2, patch + 32)):
        x = random_inputs(batch, size, seed=batch)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        got = session.run(None, {"input": x})[0]
        worst = max(worst, float(np.abs(expected - got).max()))
    if worst >= 1e-4:
        raise RuntimeError(f"{path}: ONNX Runtime differs from PyTorch by {worst:.2e}")
    return worst


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _yaml(value: Any, indent: int = 0) -> str:
    """A small YAML emitter for the manifest's nested dicts, lists and scalars."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict) and item:
                lines.append(f"{pad}{key}:\n{_yaml(item, indent + 1)}")
            elif isinstance(item, list) and item and isinstance(item[0], dict):
                entries = "\n".join(f"{pad}  - {json.dumps(e)}" for e in item)
                lines.append(f"{pad}{key}:\n{entries}")
            else:
                lines.append(f"{pad}{key}: {json.dumps(item)}")
        return "\n".join(lines)
    return pad + json.dumps(value)


def write_manifest(folder: Path, fields: dict[str, Any]) -> Path:
    path = folder / MANIFEST_NAME
    path.write_text(_yaml(fields) + "\n", encoding="utf-8")
    return path


def manifest_fields(
    *,
    model_id: str,
    name: str,
    description: str,
    onnx_name: str,
    onnx_sha: str,
    mpp: float,
    patch: int,
    parameters: dict[str, Any],
    licence: str,
    version: str = "1.0",
    authors: list[str] | None = None,
    citation: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "format": 1,
        "id": model_id,
        "name": name,
        "version": version,
        "description": description,
        "licence": licence,
        "type": "nuclick",
        "onnx": onnx_name,
        "sha256": onnx_sha,
        "input": {
            "mpp": mpp,
            "patch_size": patch,
            "batch_size": 32,
            "channel_order": "RGB",
            "normalisation": {"kind": "scale", "scale": 1.0 / 255.0},
        },
        "output": {"kind": "instances", "classes": [{"name": "Nucleus", "colour": "#ff3030"}]},
        "parameters": parameters,
        "prompted": True,
        "tissue_detection": False,
    }
    if authors:
        fields["authors"] = authors
    if citation:
        fields["citation"] = citation
    if source:
        fields["source"] = source
    return fields
