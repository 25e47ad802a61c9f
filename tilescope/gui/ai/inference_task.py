"""What a GUI inference job is: a `JobSpec` for the current slide, run by the one job.

Results go to the slide's annotation store as each batch finishes, so they appear on the
slide while the job runs. The probability map (when the model makes one) goes to a per-run
folder in the user's cache; the job records its path with the run (`HEATMAP_KEY`), so the
Runs dock shows it again later. No GeoJSON is written: the store is the GUI's output.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tilescope.engine import user_dirs
from tilescope.engine.inference.job import HEATMAP_KEY, JobResult, JobSpec
from tilescope.engine.inference.outputs import slide_stem
from tilescope.engine.inference.progress import CancelToken, ProgressListener
from tilescope.engine.inference.sessions import default_threads

__all__ = ["HEATMAP_KEY", "InferenceRequest", "describe_failure", "run_inference"]


@dataclass(frozen=True)
class InferenceRequest:
    slide_path: Path
    model_id: str
    region: tuple[float, float, float, float] | None = None  # level-0 x, y, w, h; None: all
    parameters: dict[str, Any] = field(default_factory=dict)  # overrides, e.g. structure
    batch_size: int | None = None  # None: as the model says (smaller: finer progress)
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    scene: int = 0
    keep_previous: bool = False  # keep the model's earlier runs (the user said so)

    def scope_text(self) -> str:
        if self.region is None:
            return "whole slide"
        _, _, w, h = self.region
        return f"{w:,.0f} x {h:,.0f} px"

    def job_spec(self) -> JobSpec:
        """The store, the map in the cache, no GeoJSON; one core stays with the GUI."""
        return JobSpec(
            slide=self.slide_path,
            model=self.model_id,
            out_dir=run_output_dir(self),
            scene=self.scene,
            region=self.region,
            parameters=dict(self.parameters),
            geojson=False,
            keep_previous=self.keep_previous,
            batch_size=self.batch_size,
            run_id=self.run_id,
            threads=default_threads(interactive=True),
        )


def run_output_dir(request: InferenceRequest) -> Path:
    """A fresh folder per run under the user's cache: <cache>/inference/<slide>/<run id>."""
    return user_dirs.cache_dir() / "inference" / slide_stem(request.slide_path) / request.run_id


def run_inference(
    request: InferenceRequest, progress: ProgressListener, cancel: CancelToken
) -> JobResult:
    """Run in a worker thread; raises a TilescopeError (bad model, slide, parameter)."""
    from tilescope.plugins.jobs import run_job

    return run_job(request.job_spec(), progress, cancel)


def describe_failure(model_id: str, error: BaseException) -> str:
    """The user's message for a failed job: the model and the problem, no traceback."""
    text = str(error) or type(error).__name__
    return f"Model {model_id!r} could not run: {text}"
