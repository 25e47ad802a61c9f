"""Tables on the pages of a slide or document file (each scene of a multi-page TIFF is a page).

Results are in level-0 pixels of each page, like every annotation on a slide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely.affinity

from tilescope.engine.annotations.model import Annotation
from tilescope.engine.slide import RegionRequest, SlideSource, open_slide

#: Longest page side read for detection alone; the model sees 608 x 800 anyway.
DETECTION_SIDE = 2400
#: Longest page side read when cells are wanted: ruling lines must stay a pixel wide or more.
STRUCTURE_SIDE = 8000


def read_page(source: SlideSource, max_side: int) -> tuple[np.ndarray, float]:
    """The whole page, fitted in `max_side` pixels (never upsampled), and its downsample."""
    meta = source.metadata
    downsample = max(1.0, max(meta.width, meta.height) / max_side)
    pixels = source.read_region(RegionRequest(0, 0, meta.width, meta.height, downsample))
    return pixels, downsample


def detect_in_slide(
    model: Any,
    source: SlideSource,
    *,
    cancelled: Callable[[], bool] | None = None,
    **overrides: Any,
) -> list[Annotation]:
    """`model.detect_page` on one open page, results in its level-0 pixels."""
    side = (
        STRUCTURE_SIDE
        if overrides.get("structure", model.parameters["structure"])
        else DETECTION_SIDE
    )
    pixels, downsample = read_page(source, side)
    found: list[Annotation] = model.detect_page(pixels, cancelled=cancelled, **overrides)
    if downsample == 1.0:
        return found
    return [
        a.evolve(geometry=shapely.affinity.scale(a.geometry, downsample, downsample, origin=(0, 0)))
        for a in found
    ]


def detect_in_document(
    path: str | Path,
    *,
    pages: Sequence[int] | None = None,
    model: str = "table-detection",
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    **overrides: Any,
) -> dict[int, list[Annotation]]:
    """Tables per page (scene index) of a document or slide file; all pages by default.

    Raises `SlideError` naming the file for unreadable files or pages that do not exist.
    """
    from tilescope.engine.slide import SlideError
    from tilescope.plugins.table_detection.api import layout_model

    detector = layout_model(model, device)
    with open_slide(path) as first:
        count = first.metadata.scene_count
    wanted = list(range(count)) if pages is None else list(pages)
    for index in wanted:
        if not 0 <= index < count:
            raise SlideError(path, f"has {count} page(s); there is no page {index}")
    results: dict[int, list[Annotation]] = {}
    for done, index in enumerate(wanted):
        if cancelled is not None and cancelled():
            break
        with open_slide(path, scene=index) as source:
            results[index] = detect_in_slide(detector, source, cancelled=cancelled, **overrides)
        if progress is not None:
            progress(done + 1, len(wanted))
    return results
