"""The scripting API: open a slide, run a model on a region or the whole slide, get objects.

    import tilescope.api as ts

    with ts.open_slide("slide.svs") as slide:
        model = ts.load_model("nuclei-unet-fluo", device="auto")
        result = ts.run_model(slide, model, region=(1000, 1000, 2048, 2048))
        for obj in result.annotations:          # tilescope Annotation values
            print(obj.class_name, obj.score, obj.geometry.wkt)   # level-0 pixels

`run_model` also accepts a numpy image. `run_job(JobSpec(...))` is what `tilescope infer`,
the cluster and the GUI run (the slide's annotation store, GeoJSON exported from it, the
probability map when the model makes one, resumable); `infer_to_folder` is its short form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tilescope.engine.annotations.model import Annotation
from tilescope.engine.inference.job import JobResult, JobSpec
from tilescope.engine.inference.memory_slide import ArraySlide
from tilescope.engine.inference.progress import CancelToken, ProgressListener, ProgressReport
from tilescope.engine.inference.runner import RunOptions, RunSummary, run_on_slide
from tilescope.engine.inference.types import Prompt
from tilescope.engine.slide import SlideSource, open_slide
from tilescope.plugins.base import ModelType
from tilescope.plugins.catalog import list_models, load_model
from tilescope.plugins.jobs import run_job

__all__ = [
    "Annotation",
    "CancelToken",
    "JobResult",
    "JobSpec",
    "ModelType",
    "ProgressReport",
    "Prompt",
    "RunSummary",
    "infer_to_folder",
    "list_models",
    "load_model",
    "open_slide",
    "polygons",
    "run_job",
    "run_model",
    "segment",
]


def run_model(
    slide: SlideSource | np.ndarray,
    model: ModelType | str,
    region: tuple[float, float, float, float] | None = None,
    *,
    tissue_detection: bool | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    progress: ProgressListener | None = None,
    cancel: CancelToken | None = None,
) -> RunSummary:
    """Run a model (instance or id) on a slide or image; objects in level-0 pixels."""
    if isinstance(model, str):
        model = load_model(model, device=device)
    options = RunOptions(region=region, tissue_detection=tissue_detection, batch_size=batch_size)
    if isinstance(slide, np.ndarray):
        with ArraySlide(slide) as image_slide:
            return run_on_slide(image_slide, model, options, progress=progress, cancel=cancel)
    return run_on_slide(slide, model, options, progress=progress, cancel=cancel)


def segment(slide: SlideSource, model: ModelType | str, prompts: list[Prompt]) -> list[Annotation]:
    """Run a prompted model (e.g. NuClick) on clicks or squiggles given in level-0 pixels."""
    if isinstance(model, str):
        model = load_model(model)
    return model.segment_prompts(slide, prompts)


def polygons(annotations: list[Annotation]) -> list[tuple[Any, float | None, str | None]]:
    """(shapely geometry, score, class name) per object, for quick scripting."""
    return [(a.geometry, a.score, a.class_name) for a in annotations]


def infer_to_folder(
    slide_path: str | Path,
    model: ModelType | str,
    out_dir: str | Path,
    region: tuple[float, float, float, float] | None = None,
    *,
    scene: int = 0,
    mpp: float | None = None,
    resume: bool = False,
    store: bool = True,
    keep_previous: bool = False,
    device: str = "auto",
    progress: ProgressListener | None = None,
    cancel: CancelToken | None = None,
) -> JobResult:
    """What `tilescope infer` does for one slide scene (a `JobSpec` run by `run_job`)."""
    loaded = model if isinstance(model, ModelType) else None
    spec = JobSpec(
        slide=Path(slide_path),
        model=str(loaded.manifest.folder) if loaded is not None else str(model),
        out_dir=Path(out_dir),
        scene=scene,
        region=region,
        mpp=mpp,
        store=store,
        resume=resume,
        keep_previous=keep_previous,
        device=device,
    )
    return run_job(spec, progress, cancel, model=loaded)


# -- annotation export (files, slide stores, object lists; every export format) -------------
from tilescope.engine.annotation_export import export_annotations as _export  # noqa: E402


def export_annotations(
    source: str | Path | list[Annotation],
    out: str | Path,
    format: str | None = None,
    **options: Any,
) -> list[str]:
    """Export an annotation file, a slide's stored annotations (`run=` for one model run) or
    Annotation objects as geojson, asap, imagescope, csv, dsa, coco or labels (`slide=`,
    `labels=`, `downsample=`, `mpp=`, `outside=`, `scene=` for one scene's store); format
    "tables" writes the CSV/HTML grids of table runs into folder `out`. Returns notes on
    what the format could not keep."""
    if format != "tables":
        return _export(source, out, format, **options)
    from tilescope.engine.annotation_export import load_objects
    from tilescope.plugins.table_detection.export import write_table_files

    if isinstance(source, (str, Path)):
        objects = load_objects(source, options.get("run"), options.get("scene", 0))
        stem = Path(source).stem
    else:
        objects, stem = list(source), "tables"
    written = write_table_files(objects, Path(out), stem)
    return [f"{len(written) // 2} table(s) as CSV and HTML"]


__all__ += ["export_annotations"]
