"""Accuracy of the shipped `nuclei-maskrcnn` on its held-out tile, beside the bundled U-Nets.

The held-out tile is the right 40 % of MICCAI 2015 image01 (20x, 0.5 um/px), never seen in
training by the bundled model (but a part of a training slide). All models run through the
runner and are scored with the engine's metrics against the instance labels.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_file
from tilescope.engine.annotations.model import Annotation
from tilescope.engine.inference.memory_slide import ArraySlide
from tilescope.engine.inference.metrics import aji, instance_f1, rasterize
from tilescope.engine.inference.runner import run_on_slide
from tilescope.plugins.catalog import load_model

# Measured 2026-11-26 with the GPU-trained model (F1 0.776, AJI 0.624); margin for ORT/CPU
# differences. Raise these when a better model ships.
MIN_F1 = 0.72
MIN_AJI = 0.57
UNET_IDS = ("nuclei-unet-fluo",)


@pytest.fixture(scope="module")
def holdout() -> tuple[np.ndarray, np.ndarray]:
    from tilescope.training.corpus.sources import read_labels, read_rgb

    image = read_rgb(shared_file("nuclei", "miccai2015", "image01.png"))  # 20x: 0.5 um/px
    labels = read_labels(shared_file("nuclei", "miccai2015", "image01_label.png"))
    cut = round(image.shape[1] * 0.6)  # the right 40 % the bundled model never trained on
    return np.ascontiguousarray(image[:, cut:]), np.ascontiguousarray(labels[:, cut:])


def score(annotations: list[Annotation], truth: np.ndarray) -> tuple[float, float]:
    ordered = sorted(annotations, key=lambda a: a.score or 0.0)  # higher scores paint last
    predicted = rasterize([a.geometry for a in ordered], truth.shape)
    return instance_f1(truth, predicted).f1, aji(truth, predicted)


def run(model_id: str, image: np.ndarray) -> list[Annotation]:
    model = load_model(model_id, device="cpu")
    with ArraySlide(image, mpp=0.5) as slide:
        return run_on_slide(slide, model).annotations


def test_shipped_maskrcnn_on_the_held_out_tile(holdout: tuple[np.ndarray, np.ndarray]) -> None:
    image, truth = holdout
    found = run("nuclei-maskrcnn", image)
    f1, aji_value = score(found, truth)
    lines = [f"nuclei-maskrcnn: {len(found)} objects, F1@0.5 {f1:.3f}, AJI {aji_value:.3f}"]
    unet_f1 = {}
    for unet in UNET_IDS:
        objects = run(unet, image)
        unet_f1[unet], unet_aji = score(objects, truth)
        lines.append(
            f"{unet}: {len(objects)} objects, F1@0.5 {unet_f1[unet]:.3f}, AJI {unet_aji:.3f}"
        )
    print(f"\nheld-out tile ({len(np.unique(truth)) - 1} nuclei):")
    print("\n".join(lines))
    assert f1 >= MIN_F1
    assert aji_value >= MIN_AJI
    assert f1 > max(unet_f1.values()), "the H&E-trained Mask R-CNN beats the U-Nets here"
