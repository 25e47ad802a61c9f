"""What a GUI inference job does: load the model, run it on a slide region, record the map.

Results go to the slide's annotation store as each batch finishes (the engine's `StoreSink`
inside `run_job`), so they appear on the slide while the job runs. The probability map (when
the model makes one) goes to a per-run folder in the user's cache; its path is kept in the
store's metadata (`heatmap:<run id>`) so the runs panel can show it again later.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tilescope.engine import user_dirs
from tilescope.engine.inference.job import JobResult, output_stem, run_job
from tilescope.engine.inference.progress import CancelToken, ProgressListener
from tilescope.engine.inference.runner import RunOptions
from tilescope.engine.inference.sessions import default_threads

HEATMAP_KEY = "heatmap:"


@dataclass(frozen=True)
class InferenceRequest:
    slide_path: Path
    model_id: str
    region: tuple[float, float, float, float] | None = None  # level-0 x, y, w, h; None: all
    parameters: dict[str, Any] = field(default_factory=dict)  # overrides, e.g. structure
    batch_size: int | None = None  # None: as the model says (smaller: finer progress)
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def scope_text(self) -> str:
        if self.region is None:
            return "whole slide"
        _, _, w, h = self.region
        return f"{w:,.0f} x {h:,.0f} px"


def run_output_dir(request: InferenceRequest) -> Path:
    """A fresh folder per run under the user's cache: <cache>/inference/<slide>/<run id>."""
    return user_dirs.cache_dir() / "inference" / output_stem(request.slide_path) / request.run_id


def run_inference(
    request: InferenceRequest, progress: ProgressListener, cancel: CancelToken
) -> JobResult:
    """Run in a worker thread; raises ManifestError/SessionError/SlideError with a message."""
    from tilescope.engine.annotations.store import AnnotationStore
    from tilescope.plugins.catalog import load_model

    # One core stays with the GUI (painting, tile decoding, the event loop).
    model = load_model(request.model_id, threads=default_threads(interactive=True))
    model.parameters.update(request.parameters)
    with AnnotationStore.for_slide(request.slide_path) as store:
        adopt_class_colours(store, model.manifest.classes)
    options = RunOptions(
        region=request.region, run_id=request.run_id, batch_size=request.batch_size
    )
    result = run_job(
        request.slide_path,
        model,
        model.identity(),
        run_output_dir(request),
        options,
        progress=progress,
        cancel=cancel,
    )
    if result.zarr is not None and not result.summary.cancelled and map_has_data(result.zarr):
        with AnnotationStore.for_slide(request.slide_path) as store:
            store.set_metadata(f"{HEATMAP_KEY}{request.run_id}", str(result.zarr))
    return result


def map_has_data(zarr_path: Path) -> bool:
    """Whether a run's probability map holds anything (instance models may write none)."""
    from tilescope.gui.ai.probability_pyramid import HeatmapError, ProbabilityPyramid

    if not zarr_path.exists():
        return False
    try:
        coarsest = ProbabilityPyramid(zarr_path).levels[-1]
    except HeatmapError:
        return False
    return bool(coarsest[:].max() > 0)


def adopt_class_colours(store: Any, classes: Any) -> None:
    """Give the store the model's class colours for classes it does not have yet (a user's
    own colour for an existing class wins)."""
    have = {c.name for c in store.classes()}
    for info in classes:
        if info.name not in have:
            value = info.colour.lstrip("#")
            store.set_class(
                info.name, (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))
            )


def describe_failure(model_id: str, error: BaseException) -> str:
    """The user's message for a failed job: the model and the problem, no traceback."""
    text = str(error) or type(error).__name__
    return f"Model {model_id!r} could not run: {text}"
