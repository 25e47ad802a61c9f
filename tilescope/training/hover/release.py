"""Checkpoint -> bundled model folder, every figure measured on the way.

1. post-processing thresholds tuned on training tiles or on the held-out split (`tune`);
2. ONNX export and ONNX Runtime vs PyTorch check (`export`);
3. the folder written, then the held-out split run through tilescope's runtime
   (`corpus.runtime_eval`) and the folder written again with those figures in the card.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tilescope.training.hover.card import ONNX_NAME, PARAMETERS, write_model_folder
from tilescope.training.hover.export import export_checkpoint
from tilescope.training.hover.tune import tune
from tilescope.training.quantise import refresh_int8


def release(
    checkpoint: Path,
    data: Path,
    folder: Path,
    speed: str | None = None,
    skip_tune: bool = False,
    selection: str | None = None,
    tune_on: str = "train",
    int8: bool = True,
) -> dict[str, Any]:
    from tilescope.plugins.catalog import load_model
    from tilescope.training.corpus.runtime_eval import evaluate_instances, holdout_tiles

    history = checkpoint.parent / "history.json"
    run: dict[str, Any] = json.loads(history.read_text()) if history.is_file() else {}
    parameters = dict(PARAMETERS)
    extra: dict[str, Any] = {}
    if not skip_tune:
        tuning = tune(checkpoint, data, on=tune_on)
        parameters["np_threshold"] = tuning["best"]["np_threshold"]
        parameters["edge_threshold"] = tuning["best"]["edge_threshold"]
        parameters["max_area"] = tuning["best"]["max_area"]
        extra["tuning"] = {"best": tuning["best"], "tiles": tuning["tiles"], "on": tune_on}
        print(f"tuned on {tune_on}: {tuning['best']}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_tmp = Path(tmp) / ONNX_NAME
        exported = export_checkpoint(checkpoint, onnx_tmp)
        print(f"exported: {exported}", flush=True)
        extra["export"] = exported
        extra["released"] = {"step": exported["step"], "minutes": exported["minutes"]}
        if selection:
            extra["released"]["selection"] = selection
        write_model_folder(folder, onnx_tmp, run, {}, parameters, extra)
    summary, _, seconds = evaluate_instances(load_model(folder, device="cpu"), holdout_tiles(data))
    print(f"runtime held-out ({seconds:.0f}s): {json.dumps(summary)}", flush=True)
    if speed:
        extra["speed"] = speed
    extra["notes"] = (
        f"ONNX export: opset 17, dynamic N/H/W, {exported['bytes'] / 1e6:.1f} MB; ONNX Runtime "
        f"matches PyTorch to {exported['max_abs_diff']:.1e}. Checkpoint step {exported['step']}."
    )
    write_model_folder(folder, folder / ONNX_NAME, run, summary, parameters, extra)
    refresh_int8(folder, data, make=int8)
    return {"runtime": summary, "parameters": parameters, "extra": extra}
