"""The `picodet-layout` model type: tables (and other layout regions) on whole pages.

A whole-image type: the runner hands it one image of the page (or region) and it returns
rectangles in level-0 pixels. The model always sees the whole page squashed to 608 x 800, as
it was trained; very tall or wide scans are read in page-sized windows (`windows`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import shapely.affinity

from tilescope.engine.annotations.model import Annotation
from tilescope.plugins.base import ModelType, Param, RegionInfo, TileInfo, TileResult
from tilescope.plugins.manifest import ManifestError, ModelManifest
from tilescope.plugins.table_detection.decode import decode_outputs
from tilescope.plugins.table_detection.layout import detect_layout, session_labels
from tilescope.plugins.table_detection.nms import per_class_nms, suppress_contained
from tilescope.plugins.table_detection.preprocess import (
    INPUT_HEIGHT,
    INPUT_WIDTH,
    as_rgb_uint8,
    page_to_tensor,
)
from tilescope.plugins.table_detection.results import (
    CELL_CLASS,
    box_annotation,
    cell_annotations,
    normalised_label,
    table_grid,
    with_grid,
)


class PicoDetLayoutType(ModelType):
    """PicoDet/GFL document layout detector; tables first, cells of ruled tables on request."""

    type_name: ClassVar[str] = "picodet-layout"
    whole_image: ClassVar[bool] = True
    output_kinds: ClassVar[tuple[str, ...]] = ("boxes",)
    parameter_specs: ClassVar[Mapping[str, Param]] = {
        "score_threshold": Param(float, 0.5, 0.0, 1.0, help="minimum box score"),
        "iou_threshold": Param(float, 0.5, 0.0, 1.0, help="NMS overlap within a class"),
        "classes": Param(str, "table", help="layout classes to report, comma-separated, or 'all'"),
        "structure": Param(bool, False, help="also report the cells of ruled tables"),
        "binarisation": Param(
            str, "otsu", choices=("otsu", "sauvola"), help="ink threshold for ruling lines"
        ),
    }

    @classmethod
    def validate_parameters(cls, manifest: ModelManifest) -> dict[str, Any]:
        values = super().validate_parameters(manifest)
        known = {normalised_label(name) for name in manifest.class_names} - {
            normalised_label(CELL_CLASS)
        }
        for name in _class_list(values["classes"]):
            if name != "all" and known and name not in known:
                raise ManifestError(
                    manifest.path,
                    f"unknown layout class {name!r} (known: {', '.join(sorted(known))}, all)",
                    "parameters.classes",
                )
        return values

    # -- the page API (GUI, scripts, `detect_tables`) ----------------------------------
    def labels(self) -> tuple[str, ...]:
        return session_labels(self.session)

    def detect_page(
        self,
        page: np.ndarray,
        *,
        cancelled: Callable[[], bool] | None = None,
        **overrides: Any,
    ) -> list[Annotation]:
        """Layout rectangles in `page` pixels, best first; cells follow their table.

        `overrides` replace this model's parameters for one call (same names and checks).
        """
        params = self._parameters(overrides)
        labels = self.labels()
        wanted = _class_list(params["classes"])
        unknown = sorted(set(wanted) - set(labels) - {"all"})
        if unknown or not wanted:
            raise ValueError(
                f"unknown layout class {', '.join(unknown) or repr(params['classes'])} "
                f"(classes: {', '.join(labels)}, all)"
            )
        keep = None if "all" in wanted else [i for i, lab in enumerate(labels) if lab in wanted]
        rgb = as_rgb_uint8(page)
        found = detect_layout(
            self.session,
            rgb,
            score_threshold=params["score_threshold"],
            iou_threshold=params["iou_threshold"],
            keep=keep,
            cancelled=cancelled,
        )
        results: list[Annotation] = []
        tables = 0
        for box, score, label in zip(found.boxes, found.scores, found.labels, strict=True):
            annotation = box_annotation(box, float(score), labels[int(label)])
            if labels[int(label)] != "table":
                results.append(annotation)
                continue
            # Tables are numbered per page; their cells carry the number (ids change when a
            # run stores them, the number does not).
            tables += 1
            annotation = annotation.evolve(properties={**annotation.properties, "table": tables})
            if not params["structure"]:
                results.append(annotation)
                continue
            grid = table_grid(rgb, annotation, params["binarisation"])
            results.append(with_grid(annotation, grid))
            if grid is not None:
                results.extend(cell_annotations(grid, tables))
        return results

    def _parameters(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        params = dict(self.parameters)
        for name, value in overrides.items():
            spec = self.parameter_specs.get(name)
            if spec is None:
                allowed = ", ".join(sorted(self.parameter_specs))
                raise ValueError(f"{name!r} is not a parameter of {self.type_name} ({allowed})")
            problem = spec.check(value)
            if problem:
                raise ValueError(f"parameter {name} {problem}")
            params[name] = float(value) if spec.kind is float else value
        return params

    # -- what the runner calls ---------------------------------------------------------
    def run_region(self, image: np.ndarray, region: RegionInfo) -> list[Annotation]:
        return [a.evolve(geometry=region.to_level0(a.geometry)) for a in self.detect_page(image)]

    def preprocess(self, batch: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Each tile squashed to the model input like a page (see `preprocess`)."""
        tensors = [page_to_tensor(tile)[0] for tile in batch]
        return {self.input_name(): np.concatenate(tensors)}

    def postprocess(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[TileResult]:
        """Tiled use (not the usual one): each tile read as a page of its own."""
        labels = self.labels()
        wanted = _class_list(self.parameters["classes"])
        results = []
        for index, tile in enumerate(tiles):
            found = per_class_nms(
                decode_outputs(
                    [o[index : index + 1] for o in outputs],
                    (INPUT_HEIGHT, INPUT_WIDTH),
                    self.parameters["score_threshold"],
                ),
                self.parameters["iou_threshold"],
            )
            found = suppress_contained(found)
            sx, sy = tile.width / INPUT_WIDTH, tile.height / INPUT_HEIGHT
            boxes = []
            for box, score, label in zip(found.boxes, found.scores, found.labels, strict=True):
                if "all" not in wanted and labels[int(label)] not in wanted:
                    continue
                annotation = box_annotation(box, float(score), labels[int(label)])
                geometry = shapely.affinity.scale(annotation.geometry, sx, sy, origin=(0, 0))
                boxes.append(annotation.evolve(geometry=tile.to_level0(geometry)))
            results.append(TileResult(boxes=boxes))
        return results


def _class_list(value: str) -> list[str]:
    return [normalised_label(part) for part in value.split(",") if part.strip()]
