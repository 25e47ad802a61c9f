"""Does the fluorescence nuclei U-Net work on H&E if fed the haematoxylin channel?

Runs the bundled `nuclei-unet-fluo` through the engine (tiling, watershed, stitching) on the
MICCAI 2015 tiles image01 (20x) and image08 (40x) with three inputs: grey (the manifest's
default), inverted grey, and the haematoxylin optical density (skimage rgb2hed), and scores
instance F1 at IoU 0.5, AJI and Dice against the `_label.png` instance labels.

    .venv/bin/python benchmarks/eval_unet_he.py
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tilescope.engine.inference.memory_slide import ArraySlide  # noqa: E402
from tilescope.engine.inference.metrics import aji, dice, instance_f1, rasterize  # noqa: E402
from tilescope.engine.inference.runner import RunOptions, run_on_slide  # noqa: E402
from tilescope.plugins.base import LoadedModel  # noqa: E402
from tilescope.plugins.catalog import find_model, load_model  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "nuclei" / "miccai2015"


def model_with_channels(order: str, invert: bool = False):  # type: ignore[no-untyped-def]
    base = load_model("nuclei-unet-fluo", device="cpu")
    manifest = find_model("nuclei-unet-fluo")
    manifest = dataclasses.replace(
        manifest, input=dataclasses.replace(manifest.input, channel_order=order)
    )
    model = type(base)(LoadedModel(manifest, base.parameters, device="cpu"))
    if invert:
        original = model.preprocess

        def preprocess(batch: list[np.ndarray]) -> dict[str, np.ndarray]:
            return original([255 - tile for tile in batch])

        model.preprocess = preprocess  # type: ignore[method-assign]
    return model


MPP = {"image01": 0.5, "image08": 0.25}  # 20x and 40x (README_training.txt)


def evaluate(name: str, model, with_mpp: bool = False) -> list[str]:  # type: ignore[no-untyped-def]
    rows = []
    for image_name in ("image01", "image08"):
        rgb = np.asarray(Image.open(DATA / f"{image_name}.png"))[..., :3].copy()
        truth = np.asarray(Image.open(DATA / f"{image_name}_label.png")).astype(np.int32)
        with ArraySlide(rgb, mpp=MPP[image_name] if with_mpp else None) as slide:
            summary = run_on_slide(slide, model, RunOptions(tissue_detection=False))
        pred = rasterize([a.geometry for a in summary.annotations], truth.shape)
        score = instance_f1(truth, pred)
        rows.append(
            f"| {name} | {image_name} | {len(summary.annotations)} / {truth.max()} | "
            f"{score.f1:.3f} | {aji(truth, pred):.3f} | {dice(truth, pred):.3f} |"
        )
    return rows


def main() -> None:
    print("| input | tile | objects found / true | F1@0.5 | AJI | Dice |")
    print("|---|---|---|---|---|---|")
    for name, model in (
        ("grey (fluo manifest)", model_with_channels("gray")),
        ("inverted grey", model_with_channels("gray", invert=True)),
        ("haematoxylin, fluo watershed settings", model_with_channels("haematoxylin")),
    ):
        for row in evaluate(name, model):
            print(row, flush=True)
    # What the retired `nuclei-unet-he` was: haematoxylin input at 0.5 um/px, tuned watershed.
    retired = model_with_channels("haematoxylin")
    retired.manifest = dataclasses.replace(
        retired.manifest, input=dataclasses.replace(retired.manifest.input, mpp=0.5)
    )
    retired.set_parameters({"min_distance": 7, "min_area": 30})
    for row in evaluate("haematoxylin, 0.5 µm/px, tuned (retired nuclei-unet-he)", retired, True):
        print(row, flush=True)


if __name__ == "__main__":
    main()
