"""One slide (all the scenes its spec covers) as a task any process can run, a Dask worker
included, and what became of it.

A task is a `JobSpec`: plain data (paths, ids, numbers), so it travels to workers without
pickling a model, a session or an open file; the worker loads the model itself. A local
`tilescope infer` runs the very same function with the model it loaded once.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Literal

from tilescope.engine.errors import TilescopeError, as_user_error, one_line
from tilescope.engine.inference.job import JobResult, JobSpec, scene_specs
from tilescope.engine.inference.progress import CancelToken, ProgressListener
from tilescope.plugins.base import ModelType
from tilescope.plugins.jobs import run_job

SlideStatus = Literal["done", "resumed", "finished earlier", "cancelled", "failed"]


@dataclass(frozen=True)
class SlideOutcome:
    """What happened to one slide; `error` is a one-line message when it failed.

    `status`: "done" (run now from the start), "resumed" (an interrupted run finished now),
    "finished earlier" (skipped by resume, outputs untouched), "cancelled" or "failed".
    """

    slide: str
    status: SlideStatus = "done"
    error: str | None = None
    objects: int = 0
    counts_by_class: dict[str, int] = field(default_factory=dict)
    tiles_run: int = 0
    tiles_total: int = 0
    tiles_skipped: int = 0  # background
    seconds: float = 0.0
    geojson: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    replaced_runs: int = 0
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "cancelled")


def single_threaded_worker_environment() -> None:
    """One compute thread per worker: N workers on N cores must not oversubscribe them."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


def run_slide_task(
    spec: JobSpec,
    progress: ProgressListener | None = None,
    cancel: CancelToken | None = None,
    *,
    model: ModelType | None = None,
) -> SlideOutcome:
    """Run the spec on every scene it covers, exactly as `tilescope infer` does.

    Input problems (bad slide, bad model, region outside the slide) come back as an outcome
    with `error` set, so that one bad slide never stops a batch.
    """
    worker = f"{os.uname().nodename}:{os.getpid()}"
    started = time.perf_counter()
    results: list[JobResult] = []
    try:
        for scene_spec in scene_specs(spec):
            results.append(run_job(scene_spec, progress, cancel, model=model))
            if results[-1].cancelled:
                break
    except (TilescopeError, OSError) as error:  # OSError: disk full, read-only --out, ...
        user_error = as_user_error(error)
        if user_error is None:
            raise
        message = one_line(user_error)
        if str(spec.slide) not in message:
            message = f"{spec.slide}: {message}"
        return SlideOutcome(str(spec.slide), "failed", message, worker=worker)
    counts: dict[str, int] = {}
    for result in results:
        for name, n in result.counts_by_class.items():
            counts[name] = counts.get(name, 0) + n
    return SlideOutcome(
        slide=str(spec.slide),
        status=_status(results),
        error="cancelled" if any(r.cancelled for r in results) else None,
        objects=sum(counts.values()),
        counts_by_class=counts,
        tiles_run=sum(r.summary.tiles_run for r in results),
        tiles_total=sum(r.summary.tiles_total for r in results),
        tiles_skipped=sum(r.summary.tiles_skipped for r in results),
        seconds=time.perf_counter() - started,
        geojson=tuple(str(r.geojson) for r in results if r.geojson is not None),
        notes=tuple(dict.fromkeys(n for r in results for n in r.summary.notes)),
        replaced_runs=sum(len(r.replaced) for r in results),
        worker=worker,
    )


def _status(results: list[JobResult]) -> SlideStatus:
    if any(r.cancelled for r in results):
        return "cancelled"
    if all(r.status == "finished earlier" for r in results):
        return "finished earlier"
    if any(r.summary.tiles_resumed or r.status == "finished earlier" for r in results):
        return "resumed"
    return "done"
