"""`maskrcnn`: instance segmentation models with boxes, scores, labels and per-box masks.

Works with exports of torchvision's Mask R-CNN that stop before mask pasting (our
`nuclei-maskrcnn`), with stock torchvision exports (masks already pasted), and with
Detectron2/mmdetection exports whose outputs differ only in names; the manifest's
`parameters` name the outputs (docs/maskrcnn-export.md). No resize happens here or should
happen in the graph: tiles arrive at the manifest's mpp and patch size.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import numpy as np

from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.inference.types import TileInfo, TileResult
from tilescope.plugins.base import ModelType, Param
from tilescope.plugins.manifest import ManifestError
from tilescope.plugins.maskrcnn.outputs import (
    Detections,
    OutputMappingError,
    OutputNames,
    check_output_names,
    to_detections,
)
from tilescope.plugins.maskrcnn.paste import crop_pasted, paste_mask
from tilescope.plugins.maskrcnn.polygons import instance_polygon


class MaskRCNNType(ModelType):
    type_name: ClassVar[str] = "maskrcnn"
    output_kinds: ClassVar[tuple[str, ...]] = ("instances",)
    parameter_specs: ClassVar[dict[str, Param]] = {
        "image_input": Param(str, "", help="input name (empty: the model's first input)"),
        "boxes_output": Param(str, "boxes", help="N x 4 (x0, y0, x1, y1) or N x 5 with score"),
        "scores_output": Param(str, "scores", help="N scores; the boxes output for N x 5"),
        "labels_output": Param(str, "labels", help="N class labels; empty: one class"),
        "masks_output": Param(str, "mask_probs", help="N x 1 x h x w per-box or pasted masks"),
        "masks_are": Param(str, "probabilities", choices=("probabilities", "logits")),
        "label_offset": Param(int, 1, minimum=0, help="label of the first class (1: torchvision)"),
        "score_threshold": Param(float, 0.5, minimum=0.0, maximum=1.0),
        "mask_threshold": Param(float, 0.5, minimum=0.0, maximum=1.0),
        "min_area": Param(int, 6, minimum=1, help="smallest instance in model pixels"),
        "simplify": Param(float, 0.5, minimum=0.0, help="polygon tolerance in model pixels"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names = OutputNames.from_parameters(self.parameters)
        self._checked = False
        self._check_lock = threading.Lock()

    # -- running ------------------------------------------------------------------------
    def input_name(self) -> str:
        return str(self.parameters["image_input"]) or super().input_name()

    def _check_outputs(self) -> None:
        with self._check_lock:
            if self._checked:
                return
            available = [o.name for o in self.session.get_outputs()]
            try:
                check_output_names(available, self.names)
            except OutputMappingError as error:
                raise ManifestError(self.manifest.path, str(error), "parameters") from error
            self._checked = True

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One image at a time (detection counts differ per image); outputs concatenated
        image after image, `len(self.names.required())` arrays each."""
        self._check_outputs()
        name = self.input_name()
        batch = inputs[name]
        shape = self.session.get_inputs()[0].shape
        wants_batch_axis = len(shape) == 4
        wanted = list(self.names.required())
        flat: list[np.ndarray] = []
        for image in batch:
            feed = image[None] if wants_batch_axis else image
            flat.extend(self.session.run(wanted, {name: np.ascontiguousarray(feed)}))
        return flat

    # -- reading the outputs ------------------------------------------------------------
    def detections(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[Detections]:
        wanted = self.names.required()
        if len(outputs) != len(wanted) * len(tiles):
            raise ValueError(
                f"expected {len(wanted) * len(tiles)} output arrays, got {len(outputs)}"
            )
        out = []
        for index, tile in enumerate(tiles):
            chunk = outputs[index * len(wanted) : (index + 1) * len(wanted)]
            named = dict(zip(wanted, chunk, strict=True))
            try:
                dets = to_detections(
                    named, self.names, (tile.height, tile.width), self.parameters["masks_are"]
                )
            except OutputMappingError as error:
                raise ManifestError(self.manifest.path, str(error), "parameters") from error
            out.append(dets.select(dets.scores >= self.parameters["score_threshold"]))
        return out

    def postprocess(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[TileResult]:
        return [
            TileResult(instances=self.instances(dets, tile))
            for dets, tile in zip(self.detections(outputs, tiles), tiles, strict=True)
        ]

    def class_name(self, label: int) -> str | None:
        names = self.class_names()
        index = label - int(self.parameters["label_offset"])
        if 0 <= index < len(names):
            return names[index]
        return names[0] if len(names) == 1 else f"class {label}"

    def instances(self, dets: Detections, tile: TileInfo) -> list[Annotation]:
        """Polygons in level-0 pixels for one tile's detections."""
        p = self.parameters
        size = (tile.height, tile.width)
        out = []
        for box, score, label, mask in zip(
            dets.boxes, dets.scores, dets.labels, dets.masks, strict=True
        ):
            if dets.pasted:
                pasted = crop_pasted(mask, p["mask_threshold"])
            else:
                pasted = paste_mask(mask, box, size, p["mask_threshold"])
            if pasted is None:
                continue
            polygon = instance_polygon(pasted, p["min_area"], p["simplify"])
            if polygon is None:
                continue
            out.append(
                Annotation(
                    geometry=tile.to_level0(polygon),
                    shape_type=ShapeType.POLYGON,
                    class_name=self.class_name(int(label)),
                    kind=ObjectKind.DETECTION,
                    score=round(float(score), 4),
                )
            )
        return out
