"""ONNX export with a dynamic batch (and patch size), checked against PyTorch, and the model
folder (ONNX + `tilescope-model.yaml` + model card) in tilescope's plugin format.

The manifest is made as a `ModelManifest` and written by the manifest module's own
`write_manifest`, then read back with `load_manifest`: a folder the loader would refuse is
never left behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tilescope.plugins import manifest as manifests
from tilescope.plugins.manifest import (
    ClassInfo,
    InputSpec,
    ModelManifest,
    Normalisation,
    file_sha256,
    load_manifest,
)

OPSET = 17


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
    """Max |ONNX Runtime - PyTorch| / (1 + |PyTorch|) over random batches of two sizes;
    raises above 1e-4 (relative: trained logits reach tens, float32 sums differ in the
    last bits, and an absolute bound would refuse a correct export)."""
    import onnxruntime as ort

    model = model.to("cpu").float().eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch, size in ((1, patch), (3, patch), (2, patch + 32)):
        x = random_inputs(batch, size, seed=batch)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        got = session.run(None, {"input": x})[0]
        worst = max(worst, float((np.abs(expected - got) / (1.0 + np.abs(expected))).max()))
    if worst >= 1e-4:
        raise RuntimeError(f"{path}: ONNX Runtime differs from PyTorch by {worst:.2e}")
    return worst


def model_manifest(
    folder: Path,
    *,
    model_id: str,
    name: str,
    description: str,
    onnx_name: str,
    mpp: float,
    patch: int,
    parameters: dict[str, Any],
    licence: str,
    version: str = "1.0",
    authors: list[str] | None = None,
    citation: str | None = None,
    source: str | None = None,
    licence_file: str | None = None,
) -> ModelManifest:
    """The manifest of a NuClick folder whose ONNX file `folder/onnx_name` is written."""
    return ModelManifest(
        id=model_id,
        name=name,
        version=version,
        description=description,
        licence=licence,
        type="nuclick",
        onnx=onnx_name,
        sha256=file_sha256(folder / onnx_name),
        input=InputSpec(
            mpp=mpp,
            patch_size=(patch, patch),
            batch_size=32,
            channel_order="RGB",
            normalisation=Normalisation(kind="scale", scale=1.0 / 255.0),
        ),
        output_kind="instances",
        classes=(ClassInfo("Nucleus", "#ff3030"),),
        parameters=dict(parameters),
        prompted=True,
        tissue_detection=False,
        folder=folder,
        authors=tuple(authors or ()),
        citation=citation,
        source=source,
        licence_file=licence_file,
    )


def write_manifest(manifest: ModelManifest) -> ModelManifest:
    """Write `tilescope-model.yaml` into the manifest's folder and read it back as the
    runtime does (raises `ManifestError` naming the key the loader would refuse)."""
    manifests.write_manifest(manifest, manifest.folder)
    return load_manifest(manifest.folder)
