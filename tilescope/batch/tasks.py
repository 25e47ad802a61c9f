"""One slide as a self-contained task that any process (a Dask worker included) can run.

A task carries plain data only (paths, ids, numbers), so it travels to workers without
pickling a model, a session or an open file; the worker loads the model itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SlideTask:
    slide: str
    model: str  # model id or folder
    out_dir: str
    region: tuple[float, float, float, float] | None = None
    tissue_detection: bool | None = None
    batch_size: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    threads: int | None = None
    resume: bool = False
    store: bool = True


@dataclass(frozen=True)
class SlideOutcome:
    """What happened to one slide; `error` is a one-line message when it failed."""

    slide: str
    error: str | None = None
    objects: int = 0
    counts_by_class: dict[str, int] = field(default_factory=dict)
    tiles_run: int = 0
    tiles_total: int = 0
    seconds: float = 0.0
    geojson: str | None = None
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def single_threaded_worker_environment() -> None:
    """One compute thread per worker: N workers on N cores must not oversubscribe them."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


def run_slide_task(
    task: SlideTask,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> SlideOutcome:
    """Run the model on one slide exactly as `tilescope infer` does locally.

    Input problems (bad slide, bad model, region outside the slide) come back as an outcome
    with `error` set, so that one bad slide never stops a batch.
    """
    from tilescope.engine.annotations.errors import AnnotationStoreError
    from tilescope.engine.inference.job import run_job
    from tilescope.engine.inference.progress import CancelToken
    from tilescope.engine.inference.results import ResumeError
    from tilescope.engine.inference.runner import RunOptions
    from tilescope.engine.inference.sessions import SessionError
    from tilescope.engine.slide.errors import SlideError
    from tilescope.plugins.catalog import load_model
    from tilescope.plugins.manifest import ManifestError
    from tilescope.plugins.registry import UnknownModelTypeError

    worker = f"{os.uname().nodename}:{os.getpid()}"
    started = time.perf_counter()
    try:
        model = load_model(task.model, device=task.device, threads=task.threads)
        model.parameters.update(task.parameters)
        cancel = CancelToken()

        def on_progress(report: Any) -> None:
            if cancelled is not None and cancelled():
                cancel.cancel()
            if progress is not None:
                progress(report.done, report.total)

        result = run_job(
            task.slide,
            model,
            model.identity(),
            task.out_dir,
            RunOptions(
                region=task.region,
                tissue_detection=task.tissue_detection,
                batch_size=task.batch_size,
            ),
            resume=task.resume,
            store=task.store,
            progress=on_progress,
            cancel=cancel,
        )
    except (
        SlideError,
        ResumeError,
        SessionError,
        AnnotationStoreError,
        ManifestError,
        UnknownModelTypeError,
    ) as error:
        return SlideOutcome(task.slide, error=str(error), worker=worker)
    except ValueError as error:
        return SlideOutcome(task.slide, error=f"{task.slide}: {error}", worker=worker)
    summary = result.summary
    return SlideOutcome(
        slide=task.slide,
        error="cancelled" if summary.cancelled else None,
        objects=len(summary.annotations),
        counts_by_class=summary.counts_by_class(),
        tiles_run=summary.tiles_run,
        tiles_total=summary.tiles_total,
        seconds=time.perf_counter() - started,
        geojson=str(result.geojson),
        worker=worker,
    )
