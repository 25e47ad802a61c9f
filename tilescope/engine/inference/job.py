"""One slide, one model, one output folder: what `tilescope infer` and scripts run.

Writes, under `out_dir`: `<stem>.geojson` (QuPath FeatureCollection), `<stem>.zarr`
(probability maps, when the model makes them) and `<stem>.resume.jsonl` (the resume log;
removed when the run completes). Detections also go to the slide's annotation store as one
run, unless `store` is False.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tilescope.engine.inference.progress import CancelToken, ProgressListener
from tilescope.engine.inference.results import (
    ResultSink,
    ResumeLog,
    StoreSink,
    write_geojson,
)
from tilescope.engine.inference.runner import RunOptions, RunSummary, run_on_slide
from tilescope.engine.inference.stitching import ProbabilityZarr
from tilescope.engine.inference.types import TileModel
from tilescope.engine.slide.opener import open_slide

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelIdentity:
    """What the job records about the model (for the store's runs table and resume checks)."""

    id: str
    version: str
    sha256: str
    parameters: dict[str, Any] = field(default_factory=dict)
    class_colours: dict[str, str] = field(default_factory=dict)
    writes_probabilities: bool = True


@dataclass
class JobResult:
    slide: Path
    summary: RunSummary
    geojson: Path
    zarr: Path | None


def output_stem(slide_path: Path) -> str:
    return slide_path.stem if slide_path.suffix else slide_path.name


def run_job(
    slide_path: str | Path,
    model: TileModel,
    identity: ModelIdentity,
    out_dir: str | Path,
    options: RunOptions | None = None,
    *,
    resume: bool = False,
    store: bool = True,
    progress: ProgressListener | None = None,
    cancel: CancelToken | None = None,
) -> JobResult:
    """Run the model on one slide into `out_dir`; raises `SlideError` for a bad slide."""
    options = options or RunOptions()
    slide_path = Path(slide_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = output_stem(slide_path)
    with open_slide(slide_path) as slide:
        meta = slide.metadata
        header = {
            "slide": slide_path.name,
            "slide_size": [meta.width, meta.height],
            "model": identity.id,
            "model_version": identity.version,
            "model_sha256": identity.sha256,
            "parameters": identity.parameters,
            "region": list(options.region) if options.region else None,
            "tissue_detection": options.tissue_detection,
            "batch_size": options.batch_size,
            "run_id": options.run_id or _fresh_run_id(slide_path, identity),
        }
        resume_path = out / f"{stem}.resume.jsonl"
        resume_log = ResumeLog(resume_path, header, resume=resume)
        sinks: list[ResultSink] = []
        annotation_store = None
        if store:
            from tilescope.engine.annotations.store import AnnotationStore

            annotation_store = AnnotationStore.for_slide(slide_path)
            if not any(r.run_id == resume_log.run_id for r in annotation_store.runs()):
                annotation_store.add_run(
                    identity.id, identity.version, identity.parameters, run_id=resume_log.run_id
                )
            sinks.append(StoreSink(annotation_store))
        zarr_path = out / f"{stem}.zarr"
        made_maps: list[ProbabilityZarr] = []

        def maps(downsample: float) -> ProbabilityZarr | None:
            if not identity.writes_probabilities:
                return None
            writer = ProbabilityZarr(
                zarr_path,
                (meta.width, meta.height),
                downsample,
                channels=max(1, len(identity.class_colours) or 1),
                mpp=meta.mpp,
                channel_names=list(identity.class_colours) or None,
                resume=resume,
            )
            made_maps.append(writer)
            return writer

        try:
            summary = run_on_slide(
                slide,
                model,
                options,
                sinks=sinks,
                resume_log=resume_log,
                probability_maps=maps,
                progress=progress,
                cancel=cancel,
            )
        finally:
            resume_log.close()
            if annotation_store is not None:
                annotation_store.close()
    geojson = out / f"{stem}.geojson"
    write_geojson(geojson, summary.annotations, identity.class_colours)
    if not summary.cancelled:
        resume_path.unlink(missing_ok=True)
    return JobResult(slide_path, summary, geojson, zarr_path if made_maps else None)


def _fresh_run_id(slide_path: Path, identity: ModelIdentity) -> str:
    import time
    import uuid

    seed = f"{slide_path.resolve()}:{identity.id}:{identity.sha256}:{time.time_ns()}"
    return str(uuid.UUID(hashlib.sha256(seed.encode()).hexdigest()[:32]))
