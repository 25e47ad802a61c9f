"""`detect_tables(image)`: the direct entry for the GUI and scripts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from tilescope.engine.annotations.model import Annotation

MODEL_ID = "table-detection"

_models: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def layout_model(model: str = MODEL_ID, device: str = "auto") -> Any:
    """The loaded `PicoDetLayoutType` for a model id or folder (cached per model and device)."""
    from tilescope.plugins.catalog import load_model
    from tilescope.plugins.table_detection.model_type import PicoDetLayoutType

    key = (str(model), device)
    with _lock:
        loaded = _models.get(key)
    if loaded is None:
        loaded = load_model(model, device=device)
        if not isinstance(loaded, PicoDetLayoutType):
            raise ValueError(f"model {model!r} is a {loaded.type_name} model, not picodet-layout")
        with _lock:
            loaded = _models.setdefault(key, loaded)
    return loaded


def detect_tables(
    image: np.ndarray,
    *,
    structure: bool = False,
    classes: str = "table",
    score_threshold: float | None = None,
    model: str = MODEL_ID,
    device: str = "auto",
    cancelled: Callable[[], bool] | None = None,
) -> list[Annotation]:
    """Tables of a page image (H x W x C or H x W) as rectangles in its pixels, best first.

    `structure` adds the cells (class `Cell`) of ruled tables after their table; `classes`
    ("table", "table,figure", "all") chooses the layout classes reported.
    """
    overrides: dict[str, Any] = {"structure": structure, "classes": classes}
    if score_threshold is not None:
        overrides["score_threshold"] = score_threshold
    detector = layout_model(model, device)
    result: list[Annotation] = detector.detect_page(image, cancelled=cancelled, **overrides)
    return result
