"""Layout regions of a page image with the PicoDet layout model, in page pixels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tilescope.plugins.table_detection.decode import Detections, decode_outputs
from tilescope.plugins.table_detection.nms import per_class_nms, suppress_contained
from tilescope.plugins.table_detection.preprocess import (
    INPUT_HEIGHT,
    INPUT_WIDTH,
    as_rgb_uint8,
    page_to_tensor,
)
from tilescope.plugins.table_detection.windows import join_cut_boxes, page_windows

#: The CDLA model's classes, used when the ONNX file carries no `character` metadata.
CDLA_LABELS = (
    "text",
    "title",
    "figure",
    "figure_caption",
    "table",
    "table_caption",
    "header",
    "footer",
    "reference",
    "equation",
)


def session_labels(session: Any) -> tuple[str, ...]:
    """Class labels from the model's metadata key `character` (one per line)."""
    meta = session.get_modelmeta().custom_metadata_map
    text = meta.get("character", "")
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    return labels or CDLA_LABELS


def detect_layout(
    session: Any,
    page: np.ndarray,
    *,
    score_threshold: float = 0.5,
    iou_threshold: float = 0.5,
    keep: Sequence[int] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Detections:
    """Layout boxes (x0, y0, x1, y1 in page pixels) with scores and class indices, best first.

    `keep` limits the result to those class indices. Pages far from the model's aspect ratio
    are read in page-sized windows (see `windows`). One box per object: per-class NMS, then a
    box lying inside a better box of its class is dropped.
    """
    rgb = as_rgb_uint8(page)
    height, width = rgb.shape[:2]
    input_name = session.get_inputs()[0].name
    windows = page_windows(width, height, INPUT_HEIGHT / INPUT_WIDTH)
    parts: list[Detections] = []
    for x0, y0, x1, y1 in windows:
        if cancelled is not None and cancelled():
            break
        tensor, scale = page_to_tensor(rgb[y0:y1, x0:x1])
        outputs = session.run(None, {input_name: tensor})
        found = per_class_nms(
            decode_outputs(outputs, (INPUT_HEIGHT, INPUT_WIDTH), score_threshold), iou_threshold
        )
        if keep is not None:
            found = found.take(np.flatnonzero(np.isin(found.labels, list(keep))))
        boxes = scale.to_page(found.boxes) + np.array([x0, y0, x0, y0], dtype=np.float64)
        parts.append(Detections(boxes, found.scores, found.labels))
    if not parts:
        return Detections.empty()
    merged = Detections(
        np.concatenate([p.boxes for p in parts]),
        np.concatenate([p.scores for p in parts]),
        np.concatenate([p.labels for p in parts]),
    )
    if len(windows) > 1:
        merged = join_cut_boxes(per_class_nms(merged, iou_threshold))
    result = suppress_contained(merged)
    result.boxes[:, 0::2] = result.boxes[:, 0::2].clip(0, width)
    result.boxes[:, 1::2] = result.boxes[:, 1::2].clip(0, height)
    return result
