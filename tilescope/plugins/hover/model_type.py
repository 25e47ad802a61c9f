"""`pixel-instances`: models that output per-pixel maps, turned into instances here.

The ONNX graph's first output is N x 3 x H x W: channel 0 the nucleus probability (NP),
channels 1 and 2 the horizontal and vertical distance of each pixel to its nucleus' centre
in -1..1 (HV; HoVer-Net, Graham et al. 2019). `postprocess` makes markers from NP and the
HV gradients and grows them by a marker-controlled watershed (`postprocess.instance_labels`),
then traces one polygon per instance. NP is also returned as the run's probability map
(the GUI's heat map). Seams are the engine's: tiles overlap by twice the manifest's margin
and each instance is kept by the tile that owns its centroid.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import ndimage as ndi

from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.inference.types import TileInfo, TileResult
from tilescope.plugins.base import ModelType, Param
from tilescope.plugins.geometry import mask_to_polygon
from tilescope.plugins.hover.postprocess import PostprocessParams, instance_labels


class PixelInstancesType(ModelType):
    type_name: ClassVar[str] = "pixel-instances"
    output_kinds: ClassVar[tuple[str, ...]] = ("instances",)
    parameter_specs: ClassVar[dict[str, Param]] = {
        "np_threshold": Param(float, 0.5, minimum=0.0, maximum=1.0, help="nucleus probability"),
        "edge_threshold": Param(
            float, 0.1, minimum=-1.0, maximum=2.0, help="HV gradient above which a pixel is edge"
        ),
        "min_area": Param(int, 10, minimum=1, help="smallest nucleus in model pixels"),
        "max_area": Param(
            int, 2000, minimum=0, help="split, then drop, larger objects (0: keep all)"
        ),
        "marker_min_area": Param(int, 4, minimum=1, help="smallest marker in model pixels"),
        "sigma": Param(float, 1.0, minimum=0.0, maximum=5.0, help="HV smoothing (model pixels)"),
        "simplify": Param(float, 0.5, minimum=0.0, help="polygon tolerance in model pixels"),
    }

    def postprocess_params(self) -> PostprocessParams:
        p: dict[str, Any] = self.parameters
        return PostprocessParams(
            np_threshold=float(p["np_threshold"]),
            edge_threshold=float(p["edge_threshold"]),
            min_area=int(p["min_area"]),
            max_area=int(p["max_area"]),
            marker_min_area=int(p["marker_min_area"]),
            sigma=float(p["sigma"]),
        )

    def postprocess(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[TileResult]:
        maps = np.asarray(outputs[0], dtype=np.float32)
        if maps.ndim != 4 or maps.shape[1] < 3:
            raise ValueError(f"expected N x 3 x H x W maps (NP, H, V), got shape {maps.shape}")
        names = self.class_names()
        class_name = names[0] if names else None
        params = self.postprocess_params()
        results = []
        for tile_maps, tile in zip(maps, tiles, strict=True):
            labels = instance_labels(tile_maps[0], tile_maps[1:3], params)
            results.append(
                TileResult(
                    instances=self.polygons(labels, tile_maps[0], tile, class_name),
                    probabilities=np.ascontiguousarray(tile_maps[:1]),
                )
            )
        return results

    def polygons(
        self, labels: np.ndarray, prob: np.ndarray, tile: TileInfo, class_name: str | None
    ) -> list[Annotation]:
        """One polygon per label (level-0 pixels), scored by its mean nucleus probability."""
        count = int(labels.max())
        if count == 0:
            return []
        flat = labels.ravel()
        area = np.bincount(flat, minlength=count + 1)
        score = np.bincount(flat, weights=prob.ravel(), minlength=count + 1) / np.maximum(area, 1)
        simplify = float(self.parameters["simplify"])
        out = []
        for index, box in enumerate(ndi.find_objects(labels), start=1):
            if box is None:
                continue
            polygon = mask_to_polygon(labels[box] == index, (box[1].start, box[0].start), simplify)
            if polygon is None:
                continue
            out.append(
                Annotation(
                    geometry=tile.to_level0(polygon),
                    shape_type=ShapeType.POLYGON,
                    class_name=class_name,
                    kind=ObjectKind.DETECTION,
                    score=round(float(score[index]), 4),
                )
            )
        return out
