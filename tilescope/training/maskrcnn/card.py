"""The `nuclei-maskrcnn` model folder: ONNX file, manifest (the model card), README, LICENSE.

The manifest is made as a `ModelManifest`, written by the manifest module's own
`write_manifest` and read back with `load_manifest`. Accuracy figures come from two places
and never from a training slide: the training history (held-out split, in PyTorch) and the
final runtime-path evaluation (`runtime_figures`: the folder loaded as tilescope loads any
model, run by the engine through ONNX Runtime on every held-out tile of the corpus split,
scored per organ/source group by `corpus.runtime_eval`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tilescope.plugins.manifest import (
    ClassInfo,
    InputSpec,
    ModelManifest,
    Normalisation,
    file_sha256,
    load_manifest,
    write_manifest,
)
from tilescope.training.corpus.card_text import held_out_section
from tilescope.training.corpus.licence import (
    MONUSEG_CITATION,
    WEIGHTS_LICENCE,
    weights_licence_text,
)
from tilescope.training.maskrcnn.data import FAR_FROM_NUCLEI_UM, TARGET_MPP
from tilescope.training.maskrcnn.export import INPUT_NAME, OUTPUT_NAMES

MODEL_ID = "nuclei-maskrcnn"
ONNX_NAME = f"{MODEL_ID}.onnx"
PATCH_SIZE = 384
OVERLAP = 48
BATCH_SIZE = 4
LICENCE_TEXT = weights_licence_text(f"{MODEL_ID} model weights ({ONNX_NAME})")
DATA_TEXT = (
    "Training data (../shared/data/nuclei through tilescope.training.corpus, all brought to "
    "0.5 um/px): MoNuSeg 2018 training tiles of bladder, kidney, liver, lung, prostate and "
    "stomach (CC BY-NC-SA 4.0); MICCAI 2015 CPM-15 brain tiles (20x/40x per tile; no "
    "licence stated); GBM40 Emory glioblastoma tiles (no licence stated; scale estimated); "
    "DSB 2018 stage-1 stained-tissue tiles (CC0; scale estimated). Unknown scales were "
    "estimated from the median nucleus diameter against the known-scale tiles. CryoNuSeg "
    "(partial labels) and the NuClick demo patch (test only) were not used. Sampling weights "
    "per organ/source group: square root of its area."
)
PROTOCOL_TEXT = (
    "Validation protocol: held out whole organs and a whole source, never a tile of a "
    "training slide: every MoNuSeg breast and colon tile and every TCGA lower-grade glioma "
    "tile (lgg_tcga_emory). The checkpoint was chosen by held-out macro AJI (so the figures "
    "lean slightly optimistic)."
)
FAILURE_TEXT = (
    "Known failure modes: trained on about 25,000 nuclei from few hospitals; expect lower "
    "accuracy on unseen stains, frozen sections, cytology and IHC. Crowded lymphocytes and "
    "overlapping nuclei are merged or split imperfectly at 0.5 um/px; at most 300 nuclei per "
    f"{PATCH_SIZE} px patch. A slide without a pixel size runs at native resolution (a 40x "
    "slide is then seen twice too large). Research use only; not a medical device."
)


def figures(summary: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{group} F1@0.5 {v['f1']:.3f}, AJI {v['aji']:.3f}, PQ {v['pq']:.3f}"
        f" ({int(v['tiles'])} tiles, {int(v['nuclei'])} nuclei)"
        for group, v in summary.items()
    )


def train_command(run: dict[str, Any]) -> str:
    device = str(run.get("device", "cpu")).split(":")[0]
    return (
        f"python -m tilescope.training.maskrcnn train --data ../shared/data/nuclei --out OUT "
        f"--seed {run.get('seed', 0)} --minutes {run.get('minutes')} --device {device} "
        f"--threads {run.get('threads', 1)} --batch-size {run.get('batch_size')}"
    )


def description(run: dict[str, Any], runtime: dict[str, dict[str, float]], smoke: bool) -> str:
    kind = (
        "SMOKE RUN: a few minutes of CPU training that prove the pipeline; far from trained. "
        if smoke
        else ""
    )
    return (
        f"{kind}Nucleus instance segmentation for H&E brightfield at {TARGET_MPP} um/px (about "
        "20x): a slim Mask R-CNN (GroupNorm ResNet trunk, FPN, torchvision) trained from "
        "scratch by the tilescope developers on the shared nuclei corpus. NON-COMMERCIAL: the "
        "training data include the MoNuSeg 2018 training tiles (CC BY-NC-SA 4.0), so these "
        "weights are for non-commercial use only and derivatives must be shared alike.\n\n"
        f"{DATA_TEXT}\n\n{PROTOCOL_TEXT} Held-out figures through tilescope's runtime (ONNX "
        f"Runtime on CPU, engine tiling {PATCH_SIZE} px with {OVERLAP} px overlap, polygons "
        f"rasterised), F1 pooled per group, AJI and PQ averaged over tiles: {figures(runtime)}."
        f"{tuning_text(run)}\n\nTraining: {run.get('steps')} steps, "
        f"{run.get('train_minutes')} min on "
        f"{run.get('device', 'cpu')} ({run.get('threads', 1)} thread(s), torch "
        f"{run.get('torch')}), batch {run.get('batch_size')} x {run.get('crop_size')} px crops "
        f"({float(run.get('hard_negative_share', 0)):.0%} hard negatives centred at least "
        f"{FAR_FROM_NUCLEI_UM:g} um from any nucleus), scale jitter x0.8-1.25, flips/rot90, HED "
        "stain jitter, brightness/contrast, blur, JPEG; AdamW with warm-up and cosine decay "
        f"over the budget; {shipped_text(run)}. Command: `{train_command(run)}` then "
        "`python -m tilescope.training.maskrcnn export`."
        f"{' ' + run['note'] if run.get('note') else ''} See README.md in this folder.\n\n"
        f"{FAILURE_TEXT}"
    )


def shipped_text(run: dict[str, Any]) -> str:
    """Which weights were shipped: the best checkpoint, or the mean of a run's snapshots."""
    steps = run.get("averaged_steps")
    if steps:
        return (
            f"shipped weights: the mean of {len(steps)} snapshots, steps {min(steps)}-"
            f"{max(steps)}, of a constant-LR phase (stochastic weight averaging, `average`)"
        )
    best = run.get("best") or {}
    return f"shipped checkpoint: step {best.get('step')} ({best.get('minutes')} min)"


def chosen_thresholds(run: dict[str, Any]) -> dict[str, float]:
    """score/mask thresholds: those tuned on the held-out split (`export --tune-on`), or 0.5."""
    best = (run.get("tuning") or {}).get("best") or {}
    return {k: float(best.get(k, 0.5)) for k in ("score_threshold", "mask_threshold")}


def tuning_text(run: dict[str, Any]) -> str:
    tuning = run.get("tuning")
    if not tuning:
        return ""
    t = chosen_thresholds(run)
    return (
        f" The runtime thresholds (score {t['score_threshold']}, mask {t['mask_threshold']}) "
        f"were chosen on this held-out split from a grid of {len(tuning['grid'])} (best macro "
        "F1 + AJI + PQ), so these figures lean slightly optimistic."
    )


def model_manifest(
    onnx_path: Path, version: str, text: str, thresholds: dict[str, float] | None = None
) -> ModelManifest:
    """The manifest of the folder holding `onnx_path` (whose sha256 it records)."""
    thresholds = thresholds or {"score_threshold": 0.5, "mask_threshold": 0.5}
    boxes, labels, scores, masks = OUTPUT_NAMES
    return ModelManifest(
        id=MODEL_ID,
        name="Nuclei Mask R-CNN (H&E)",
        version=version,
        description=text,
        licence=WEIGHTS_LICENCE,
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
            "score_threshold": thresholds["score_threshold"],
            "mask_threshold": thresholds["mask_threshold"],
            "min_area": 6,
        },
        prompted=False,
        tissue_detection=True,
        folder=onnx_path.parent,
        authors=("tilescope developers",),
        licence_file="LICENSE",
        citation=(
            "He K, Gkioxari G, Dollar P, Girshick R. Mask R-CNN. ICCV 2017 (method; these "
            "weights are tilescope's own). Data: "
            f"{MONUSEG_CITATION}."
        ),
    )


def readme(
    run: dict[str, Any],
    runtime: dict[str, dict[str, float]],
    verify: dict[str, Any],
    size_mb: float,
    smoke: bool,
) -> str:
    """README.md: the card's text plus the runtime table, the training curve and the export."""
    lines = [
        f"# {MODEL_ID}",
        "",
        description(run, runtime, smoke),
        "",
        *held_out_section("FOLDER", runtime),
    ]
    lines += [
        "",
        "## Model",
        "torchvision Mask R-CNN, no pretrained weights: ResNet-style trunk (BasicBlocks,",
        "GroupNorm; strides 4, 8, 16), FPN, anchors 8-128 px, slim box head and 4-layer mask",
        f"head; {run.get('parameters', 0) / 1e6:.2f} M parameters, ONNX file {size_mb:.1f} MB",
        f"(opset 17, input `{INPUT_NAME}` 1 x 3 x H x W RGB 0..1, mean/std in the graph; outputs",
        "boxes, labels, scores and 28 x 28 mask probabilities pasted by tilescope; at most 300",
        "detections per patch). docs/maskrcnn-export.md describes the contract.",
        "",
        "## Training curve (held-out split; "
        + (
            "whole tiles in PyTorch, masks pasted as at runtime)"
            if run.get("eval_path") == "torch"
            else "measured through the runtime path as above)"
        ),
        "| step | minutes | loss | macro F1@0.5 | macro AJI | macro PQ |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in run.get("history", []):
        m = entry["holdout"]["macro"]
        lines.append(
            f"| {entry['step']} | {entry['minutes']} | {entry.get('loss')} | {m['f1']:.3f} | "
            f"{m['aji']:.3f} | {m['pq']:.3f} |"
        )
    if run.get("scale_estimates"):
        lines += ["", "## Scale estimates (from the training log)"]
        lines += [f"- {line}" for line in run["scale_estimates"]]
    tuning = run.get("tuning")
    if tuning:
        lines += [
            "",
            "## Runtime thresholds (chosen on the held-out split, through the runtime path)",
            "| score_threshold | mask_threshold | macro F1@0.5 | macro AJI | macro PQ |",
            "|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['score_threshold']} | {r['mask_threshold']} | {r['f1']:.3f} | "
            f"{r['aji']:.3f} | {r['pq']:.3f} |"
            for r in tuning["grid"]
        ]
    lines += ["", "## Export check", f"ONNX Runtime vs PyTorch: `{json.dumps(verify)}`"]
    floor = verify.get("in_graph_score_floor")
    if floor is not None and floor > 0.05:
        lines += [
            "",
            f"Detections scoring under {floor} are dropped inside the graph (`export",
            f"--score-floor {floor}`): each one would cost a mask-head pass and none reaches",
            f"the default score_threshold; a score_threshold under {floor} acts as {floor}.",
        ]
    return "\n".join(lines) + "\n"


def write_model_folder(
    folder: Path,
    onnx_path: Path,
    run: dict[str, Any],
    runtime: dict[str, dict[str, float]],
    verify: dict[str, Any],
    version: str = "1.0",
    smoke: bool = False,
) -> ModelManifest:
    """Write (or rewrite) the folder; returns the manifest as the loader reads it back."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / ONNX_NAME
    if onnx_path.resolve() != target.resolve():
        shutil.copyfile(onnx_path, target)
    (folder / "LICENSE").write_text(LICENCE_TEXT, encoding="utf-8")
    text = description(run, runtime, smoke)
    write_manifest(model_manifest(target, version, text, chosen_thresholds(run)), folder)
    size_mb = target.stat().st_size / 1e6
    (folder / "README.md").write_text(readme(run, runtime, verify, size_mb, smoke), "utf-8")
    (folder / "training-history.json").write_text(json.dumps(run, indent=1), "utf-8")
    return load_manifest(folder)  # raises ManifestError naming what the loader would refuse


def runtime_figures(folder: Path, data: Path) -> tuple[dict[str, dict[str, float]], float]:
    """Held-out figures per group of the written folder, through tilescope's runtime path."""
    from tilescope.plugins.catalog import load_model
    from tilescope.training.corpus.runtime_eval import evaluate_instances, holdout_tiles

    summary, _, seconds = evaluate_instances(load_model(folder, device="cpu"), holdout_tiles(data))
    return summary, seconds
