"""`unet-semantic`: a per-pixel probability model turned into instances.

The output's first tensor is N x C x H x W (logits with ``activation: sigmoid``, or
probabilities); channel `channel` is the foreground. Instances come from a seeded watershed
on the distance transform of the thresholded map, so touching nuclei are split. The whole
map is also returned for the probability layer.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.inference.types import TileInfo, TileResult
from tilescope.plugins.base import ModelType, Param
from tilescope.plugins.geometry import label_polygons


def split_instances(
    probability: np.ndarray, threshold: float, min_distance: int, min_area: int
) -> np.ndarray:
    """Label image of instances: threshold, distance transform, peaks as seeds, watershed."""
    mask = probability > threshold
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.int32)
    mask = ndi.binary_opening(mask, iterations=1) if min_area > 4 else mask
    distance = ndi.distance_transform_edt(mask)
    components, _ = ndi.label(mask)
    if min_distance <= 0:
        return components.astype(np.int32)
    peaks = peak_local_max(
        distance, min_distance=min_distance, labels=components, exclude_border=False
    )
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # Components without a peak (tiny or flat) keep a seed of their own.
    seeded = np.unique(components[markers > 0])
    unseeded = np.setdiff1d(np.unique(components[components > 0]), seeded)
    if len(unseeded):
        extra = np.isin(components, unseeded)
        markers[extra] = components[extra] + len(peaks)
    labels = watershed(-distance, markers, mask=mask)
    return np.asarray(labels, dtype=np.int32)


class SemanticInstances(ModelType):
    type_name: ClassVar[str] = "unet-semantic"
    output_kinds: ClassVar[tuple[str, ...]] = ("instances", "semantic", "probability")
    parameter_specs: ClassVar[dict[str, Param]] = {
        "activation": Param(str, "sigmoid", choices=("sigmoid", "none"), help="on the output"),
        "threshold": Param(float, 0.5, minimum=0.0, maximum=1.0, help="foreground probability"),
        "min_distance": Param(int, 4, minimum=0, help="model pixels between seeds (0: none)"),
        "min_area": Param(int, 12, minimum=1, help="smallest object in model pixels"),
        "channel": Param(int, 0, minimum=0, help="output channel of the foreground"),
    }

    def probabilities(self, output: np.ndarray) -> np.ndarray:
        """N x 1 x H x W foreground probability from the raw output."""
        channel = self.parameters["channel"]
        raw: np.ndarray = output[:, channel : channel + 1].astype(np.float32)
        if self.parameters["activation"] == "sigmoid":
            raw = (1.0 / (1.0 + np.exp(-np.clip(raw, -60, 60)))).astype(np.float32)
        return raw

    def postprocess(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[TileResult]:
        probs = self.probabilities(outputs[0])
        names = self.class_names()
        class_name = names[0] if names else None
        results = []
        for prob, tile in zip(probs, tiles, strict=True):
            results.append(
                TileResult(instances=self.instances(prob[0], tile, class_name), probabilities=prob)
            )
        return results

    def instances(
        self, prob: np.ndarray, tile: TileInfo, class_name: str | None
    ) -> list[Annotation]:
        if self.manifest.output_kind not in ("instances", "semantic"):
            return []
        p: dict[str, Any] = self.parameters
        labels = split_instances(prob, p["threshold"], p["min_distance"], p["min_area"])
        out = []
        for index, polygon, box in label_polygons(labels, p["min_area"]):
            score = float(prob[box][labels[box] == index].mean())
            out.append(
                Annotation(
                    geometry=tile.to_level0(polygon),
                    shape_type=ShapeType.POLYGON,
                    class_name=class_name,
                    kind=ObjectKind.DETECTION,
                    score=score,
                )
            )
        return out
