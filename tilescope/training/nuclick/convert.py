"""Published NuClick PyTorch weights -> a tilescope model folder (ONNX + manifest + card).

The weights are read with ``torch.load(weights_only=True)``: tensors and plain containers
only, never arbitrary pickled code. A state dict that does not fit `NuClickOriginal` is
reported with what is missing, unexpected or mis-shaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from tilescope.engine.errors import TilescopeError
from tilescope.training.nuclick import export
from tilescope.training.nuclick.official import NuClickOriginal

PATCH = 128
_WRAPPERS = ("state_dict", "model_state_dict", "model", "net", "weights")


class ConversionError(TilescopeError):
    """The weights cannot be converted; the message names the file and the problem."""


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ConversionError(f"{path}: file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConversionError(f"{path}: not a readable PyTorch weights file ({first})") from error
    for key in _WRAPPERS:  # training checkpoints wrap the state dict
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConversionError(f"{path}: does not hold a state dict of tensors")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def check_fit(state: Mapping[str, torch.Tensor], model: torch.nn.Module, path: Path) -> None:
    expected = model.state_dict()
    ignored = {k for k in state if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state) - ignored)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    unexpected = sorted(set(state) - set(expected) - ignored)
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
    if shapes:
        problems.append(f"{len(shapes)} of another shape (e.g. {shapes[0]})")
    if problems:
        raise ConversionError(
            f"{path}: not the original NuClick architecture (5 input channels): "
            + "; ".join(problems)
        )


def convert(
    weights: Path,
    out: Path,
    model_id: str = "nuclick-original",
    mpp: float = 0.25,
    licence: str = "CC-BY-NC-SA-4.0",
) -> float:
    """Write the model folder; returns the verified max |ONNX Runtime - PyTorch|."""
    state = load_state_dict(weights)
    model = NuClickOriginal()
    check_fit(state, model, weights)
    model.load_state_dict(state, strict=False)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "nuclick.onnx"
    export.export_onnx(model, onnx_path, PATCH)
    diff = export.verify_onnx(model, onnx_path, PATCH)
    manifest = export.model_manifest(
        out,
        model_id=model_id,
        name="NuClick (original architecture, converted)",
        description=(
            f"NuClick weights converted from {weights.name}: click inside a nucleus to get "
            "its outline."
        ),
        onnx_name=onnx_path.name,
        mpp=mpp,
        patch=PATCH,
        # The original was trained with one-pixel clicks (no disk).
        parameters={
            "threshold": 0.5,
            "signal_radius": 0.0,
            "squiggle_width": 1,
            "min_area": 10,
            "max_patch": 256,
        },
        licence=licence,
        authors=["Navid Alemi Koohbanani", "Mostafa Jahanifar", "Nasir Rajpoot"],
        citation=(
            "Koohbanani NA, Jahanifar M, Tajadin NZ, Rajpoot N. NuClick: a deep learning "
            "framework for interactive segmentation of microscopic images. Medical Image "
            "Analysis 65 (2020) 101771."
        ),
        source=str(weights.name),
    )
    export.write_manifest(manifest)
    (out / "README.md").write_text(
        f"# NuClick (original architecture, converted)\n\n"
        f"Converted by `python -m tilescope.training.nuclick convert {weights.name}`.\n"
        f"ONNX opset {export.OPSET}, dynamic batch; ONNX Runtime matches PyTorch to "
        f"{diff:.1e} on random input.\n\n"
        f"- Input: RGB / 255, inclusion map (one pixel at the click), exclusion map (one "
        f"pixel per other click), {PATCH} x {PATCH} patches at {mpp} um/px.\n"
        f"- Licence of the weights: {licence} (the published NuClick weights are CC BY-NC-SA "
        f"4.0: non-commercial use only). Check the terms of the file you converted.\n",
        encoding="utf-8",
    )
    return diff
