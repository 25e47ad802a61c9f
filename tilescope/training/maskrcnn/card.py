"""The model folder: ONNX file, `tilescope-model.yaml` and the model card README.md.

The manifest is made as a `ModelManifest`, written by the manifest module's own
`write_manifest` and read back with `load_manifest`, so the folder is checked by the parser
that loads it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tilescope.plugins.manifest import (
    ClassInfo,
    InputSpec,
    ModelManifest,
    Normalisation,
    file_sha256,
    load_manifest,
    write_manifest,
)
from tilescope.training.maskrcnn.data import HOLDOUT_FRACTION, TARGET_MPP
from tilescope.training.maskrcnn.export import INPUT_NAME, OUTPUT_NAMES

MODEL_ID = "nuclei-maskrcnn"
ONNX_NAME = f"{MODEL_ID}.onnx"
PATCH_SIZE = 384
OVERLAP = 48
BATCH_SIZE = 4


def model_manifest(onnx_path: Path, version: str, summary: str) -> ModelManifest:
    """The manifest of the folder holding `onnx_path` (whose sha256 it records)."""
    boxes, labels, scores, masks = OUTPUT_NAMES
    return ModelManifest(
        id=MODEL_ID,
        name="Nuclei Mask R-CNN (H&E)",
        version=version,
        description=(
            f"Nucleus instance segmentation for H&E brightfield at {TARGET_MPP} um/px (about "
            "20x): a slim Mask R-CNN (GroupNorm ResNet trunk, FPN, torchvision) trained from "
            f"scratch by the tilescope developers on MICCAI 2015 nuclei tiles. {summary} See "
            "README.md for data and accuracy."
        ),
        licence="Apache-2.0",
        type="maskrcnn",
        onnx=onnx_path.name,
        sha256=file_sha256(onnx_path),
        input=InputSpec(
            mpp=TARGET_MPP,
            patch_size=(PATCH_SIZE, PATCH_SIZE),
            overlap=OVERLAP,
            halo=0,
            batch_size=BATCH_SIZE,
            channel_order="RGB",
            # 0..1; the per-channel mean/std is applied inside the graph
            normalisation=Normalisation(kind="scale", scale=1.0 / 255.0),
        ),
        output_kind="instances",
        classes=(ClassInfo("Nucleus", "#ff3030"),),
        parameters={
            "image_input": INPUT_NAME,
            "boxes_output": boxes,
            "labels_output": labels,
            "scores_output": scores,
            "masks_output": masks,
            "masks_are": "probabilities",
            "label_offset": 1,
            "score_threshold": 0.5,
            "mask_threshold": 0.5,
            "min_area": 6,
        },
        prompted=False,
        tissue_detection=True,
        folder=onnx_path.parent,
        authors=("tilescope developers",),
    )


def readme_text(run: dict, verify: dict, onnx_path: Path, smoke: bool) -> str:
    best = run.get("best") or {}
    size_mb = onnx_path.stat().st_size / 1e6
    kind = (
        "**Smoke run**: a short CPU training that proves the pipeline end to end; accuracy is far "
        "below what a GPU run of a few minutes reaches."
        if smoke
        else "Trained on a GPU within a fixed wall-clock budget."
    )
    device = str(run.get("device", "cpu")).split(":")[0]
    history = "\n".join(
        f"| {h['seconds']} | {h['step']} | {h['f1']} | {h['aji']} | {h['n_pred']} / {h['n_true']} |"
        for h in run.get("history", [])
    )
    return f"""# nuclei-maskrcnn

Nucleus instance segmentation for H&E brightfield slides at {TARGET_MPP} um/px (about 20x).
Licence: Apache-2.0 (weights and code by the tilescope developers).

{kind}

## Model
- torchvision Mask R-CNN, no pretrained weights: ResNet-style trunk (BasicBlocks, GroupNorm;
  outputs at strides 4, 8, 16), FPN, anchors 8-128 px, slim box head (128-d) and 4-layer mask
  head; {run.get("parameters", 0) / 1e6:.2f} M parameters, ONNX file {size_mb:.1f} MB.
- ONNX (opset 17): input `{INPUT_NAME}` float32 1 x 3 x H x W, RGB scaled to 0..1, any H and W
  (no resize inside); mean/std normalisation in the graph. Outputs `boxes` (N x 4, x0 y0 x1 y1
  in input pixels), `labels` (N, 1 = nucleus), `scores` (N), `mask_probs` (N x 1 x 28 x 28
  probabilities inside each box, pasted by tilescope). At most 300 detections per image.

## Data
- MICCAI 2015 digital pathology segmentation challenge tiles image01 (20x) and image08 (40x,
  downscaled by 2 with area averaging, labels nearest-neighbour), both at {TARGET_MPP} um/px.
- Held out: the right {int(HOLDOUT_FRACTION * 100)} % of image01 ("image01-right"); training
  used the rest of image01 and all of image08. Only these two tiles are fully labelled, and
  holding a whole tile out would leave ~250 nuclei from one source at 20x for training; the
  spatial split trains on both sources and still scores on nuclei never seen. It is the same
  slide as part of the training data, so expect lower accuracy on other labs' slides.
- CryoNuSeg was left out: only 59 of its nuclei are outlined and the unlabelled ones would
  be taught as background.

## Training
- Seed {run.get("seed")}, device {run.get("device")} (torch {run.get("torch")}), {run.get("steps")}
  steps in {run.get("train_seconds")} s, batch {run.get("batch_size")} of
  {run.get("crop_size")} px crops from a pool of {run.get("pool_size")} scale-jittered crops
  (x0.8-1.25); per step flips/rot90 and HED stain jitter. AdamW, lr 1e-3 with warm-up and
  cosine decay over the wall-clock budget; the checkpoint with the best held-out
  (F1 + AJI) / 2 was kept.
- Reproduce: `python -m tilescope.training.maskrcnn train --data DATA/nuclei --out OUT
  --seed {run.get("seed")} --minutes {run.get("minutes")} --device {device}`.

## Accuracy on the held-out tile (score >= 0.5, mask >= 0.5)
- Instance F1 at IoU 0.5: **{best.get("f1")}** (precision {best.get("precision")}, recall
  {best.get("recall")}); AJI: **{best.get("aji")}**; {best.get("n_pred")} predicted vs
  {best.get("n_true")} true nuclei (step {best.get("step")}). The same tile chose the kept
  checkpoint among the evaluations below, so these figures lean slightly optimistic.
- ONNX Runtime vs PyTorch on that tile: {json.dumps(verify)}.

| seconds | step | F1@0.5 | AJI | predicted / true |
|---|---|---|---|---|
{history}

## Use
`tilescope infer SLIDE --model nuclei-maskrcnn --out DIR` (GeoJSON outlines with scores, and the
detections in the slide's annotation store), or from Python
`tilescope.plugins.catalog.load_model("nuclei-maskrcnn")` with the engine's runner. Tiles of
384 px at 0.5 um/px with 48 px overlap; objects across tile seams are kept once
(centroid-in-core, then the runner's seam filter).

## Intended use and limits
Research use on H&E at about 20x. Not a medical device. Trained on two small tiles: it has
seen few tissue types and stains; check results on your own slides.
"""


def write_model_folder(
    folder: Path, onnx_path: Path, run: dict, verify: dict, version: str, smoke: bool
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / ONNX_NAME
    if onnx_path.resolve() != target.resolve():
        target.write_bytes(onnx_path.read_bytes())
    best = run.get("best") or {}
    summary = f"Held-out F1@0.5 {best.get('f1')}, AJI {best.get('aji')}" + (
        " (smoke run)." if smoke else "."
    )
    write_manifest(model_manifest(target, version, summary), folder)
    load_manifest(folder)  # raises ManifestError naming the key the loader would refuse
    (folder / "README.md").write_text(readme_text(run, verify, target, smoke), "utf-8")
    (folder / "training-history.json").write_text(json.dumps(run, indent=2), "utf-8")
    return folder
