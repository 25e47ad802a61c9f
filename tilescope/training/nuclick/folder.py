"""The NuClick model folder: ONNX file, manifest, LICENSE and model card, and its release.

`release` turns a trained folder into the shipped one: the same ONNX weights, then every
held-out nucleus measured through the runtime (`corpus.runtime_eval.evaluate_clicks`) and
written into the card, so the card's figures are measured, never typed in.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tilescope.training.corpus.licence import (
    MONUSEG_CITATION,
    WEIGHTS_LICENCE,
    weights_licence_text,
)
from tilescope.training.nuclick import export
from tilescope.training.nuclick.data import MODEL_MPP
from tilescope.training.nuclick.model_card import model_card
from tilescope.training.nuclick.sampler import SamplerConfig
from tilescope.training.quantise import refresh_int8

ONNX_NAME = "nuclick.onnx"
LOG_NAME = "training-log.json"


def write_model_folder(
    folder: Path, summary: dict[str, Any], runtime: dict[str, Any] | None = None
) -> None:
    config = summary["config"]
    smoke = bool(config.get("smoke"))
    parameters = {
        "threshold": 0.5,
        "signal_radius": SamplerConfig().radius,
        "squiggle_width": 3,
        "min_area": 10,
        "max_patch": 512,
    }
    kind = "smoke-run" if smoke else "trained"
    if runtime:
        figure = f"{runtime['clicks']['macro']['mean_dice']:.3f}"
    else:
        figure = f"{summary['last']['click']['mean_dice']:.3f} (sample)"
    manifest = export.model_manifest(
        folder,
        model_id="nuclick",
        name="NuClick (tilescope, nuclei at 20x)",
        description=(
            "Click inside a nucleus (or draw a squiggle inside an object) to get its outline. "
            f"U-Net trained by tilescope ({kind}) on the multi-organ nuclei corpus; mean Dice "
            f"per clicked nucleus {figure} on organs and sources it never saw (see the model "
            "card). NON-COMMERCIAL: trained on MoNuSeg 2018 tiles (CC BY-NC-SA 4.0)."
        ),
        onnx_name=ONNX_NAME,
        mpp=MODEL_MPP,
        patch=int(config["inference_patch"]),
        parameters=parameters,
        licence=WEIGHTS_LICENCE,
        licence_file="LICENSE",
        authors=["tilescope developers"],
        citation=(
            "Koohbanani NA, Jahanifar M, Tajadin NZ, Rajpoot N. NuClick: a deep learning "
            "framework for interactive segmentation of microscopic images. Medical Image "
            "Analysis 65 (2020) 101771 (method; these weights are tilescope's own). "
            f"Data: {MONUSEG_CITATION}."
        ),
    )
    (folder / "LICENSE").write_text(
        weights_licence_text(
            "nuclick model weights (nuclick.onnx, and nuclick.int8.onnx: the same weights in int8)"
        ),
        encoding="utf-8",
    )
    export.write_manifest(manifest)
    (folder / "README.md").write_text(model_card(summary, smoke, runtime), encoding="utf-8")


def release(
    trained: Path,
    out: Path,
    data: Path,
    threads: int = 1,
    inference_patch: int | None = None,
    patch_note: str | None = None,
    int8: bool = True,
) -> dict[str, Any]:
    """Copy the trained weights into `out`, measure them on the held-out split, write the card.

    `inference_patch` overrides the click patch of the manifest (`patch_note` says why).
    """
    from tilescope.plugins.catalog import load_model
    from tilescope.training.corpus.runtime_eval import evaluate_clicks, holdout_tiles

    summary = json.loads((trained / LOG_NAME).read_text(encoding="utf-8"))
    if inference_patch:
        summary["config"]["inference_patch"] = inference_patch
        summary["inference_patch_note"] = patch_note
    out.mkdir(parents=True, exist_ok=True)
    if (trained / ONNX_NAME).resolve() != (out / ONNX_NAME).resolve():
        shutil.copyfile(trained / ONNX_NAME, out / ONNX_NAME)
    write_model_folder(out, summary)  # a loadable folder first: the runtime reads it
    model = load_model(out, device="cpu", threads=threads)
    runtime = {"clicks": evaluate_clicks(model, holdout_tiles(data))}
    summary["runtime_holdout"] = runtime
    (out / LOG_NAME).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    write_model_folder(out, summary, runtime)
    refresh_int8(out, data, make=int8)
    return runtime
