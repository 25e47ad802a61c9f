"""Start training from the weights inside a tilescope NuClick ONNX file.

`torch.onnx.export` keeps convolution weights under their state-dict names but renames
GroupNorm's affine weight and bias to anonymous ``onnx::Mul_N`` / ``onnx::Add_N``
initialisers, numbered in graph order, which is the module order. They are matched by that
order and by size, and the result is checked by running both on the same input: a file of
another architecture is refused rather than half-loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from onnx import load as load_onnx
from onnx import numpy_helper


class WarmStartError(ValueError):
    pass


def load_onnx_weights(model: torch.nn.Module, path: Path, tolerance: float = 1e-3) -> float:
    """Copy the ONNX file's weights into `model`; returns max |ORT - torch| on a test input."""
    import onnxruntime as ort

    graph = load_onnx(str(path)).graph
    state = model.state_dict()
    named: dict[str, np.ndarray] = {}
    anonymous: list[tuple[int, np.ndarray]] = []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if init.name in state:
            named[init.name] = array
        elif init.name.startswith(("onnx::Mul_", "onnx::Add_")):
            anonymous.append((int(init.name.rsplit("_", 1)[1]), array))
    anonymous.sort(key=lambda item: item[0])
    missing = [k for k in state if k not in named]
    if len(missing) != len(anonymous):
        raise WarmStartError(f"{path}: {len(missing)} weights unmatched; another architecture?")
    weights = {k: torch.from_numpy(v.copy()) for k, v in named.items()}
    for key, (_, array) in zip(missing, anonymous, strict=True):
        if array.size != state[key].numel():
            raise WarmStartError(f"{path}: {key} has {array.size} values, expected more/less")
        weights[key] = torch.from_numpy(array.reshape(state[key].shape).copy())
    for key, value in weights.items():
        if value.shape != state[key].shape:
            raise WarmStartError(f"{path}: {key} shape {tuple(value.shape)} differs")
    model.load_state_dict(weights)
    was_training = model.training
    model.eval()
    probe = torch.rand(2, 5, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(probe).numpy()
    model.train(was_training)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: probe.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    if diff > tolerance:
        raise WarmStartError(f"{path}: weights loaded but outputs differ by {diff:.2e}")
    return diff
