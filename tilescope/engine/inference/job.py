"""One model run on one slide scene, described by a plain `JobSpec`: what every caller runs.

`tilescope infer` (locally and on a cluster), the GUI and `tilescope.api` all build a
`JobSpec` and call `run_job` with a model loaded for it (loading is the plugins' business:
`tilescope.plugins.jobs.load_job_model`). The spec says what is wanted; `run_job` makes it so:

- the store: objects go to the slide's annotation store as each batch finishes (with
  ``store=False`` to a temporary store, so that everything below works the same); the model's
  class colours are adopted when the store first learns the classes; a completed run replaces
  the earlier runs it repeats (same model, scene and parameters) unless ``keep_previous``;
- in ``out_dir`` (see `outputs`): the GeoJSON exported from the run the store received, the
  probability map only when the model makes one (its path recorded with the run, for the
  GUI's Runs dock), the resume log while unfinished, and the finished record that lets
  ``resume`` skip a finished slide without touching its outputs.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.inference.outputs import (
    FinishedRecord,
    OutputNames,
    export_geojson,
    same_run,
)
from tilescope.engine.inference.progress import CancelToken, ProgressListener
from tilescope.engine.inference.results import (
    ResultSink,
    ResumeLog,
    StoreSink,
    adopt_class_colours,
    delete_runs,
)
from tilescope.engine.inference.runner import RunOptions, RunSummary, run_on_slide
from tilescope.engine.inference.stitching import ProbabilityZarr
from tilescope.engine.inference.tiling import Box
from tilescope.engine.inference.types import ModelIdentity, TileModel
from tilescope.engine.pixel_size import apply_pixel_size
from tilescope.engine.slide.opener import open_slide

log = logging.getLogger(__name__)

#: Store metadata key (+ run id) of a run's probability map folder; the Runs dock reads it.
HEATMAP_KEY = "heatmap:"
#: Run parameter naming the scene of a run in a multi-scene file.
SCENE_PARAMETER = "scene"

JobStatus = Literal["done", "cancelled", "finished earlier"]


@dataclass(frozen=True)
class JobSpec:
    """What to run and what to keep: plain data (paths, ids, numbers), so it travels to
    cluster workers and can be compared and logged."""

    slide: Path
    model: str  # model id or folder
    out_dir: Path | None = None  # GeoJSON, map, resume log, finished record; None: none
    scene: int | None = None  # None: every scene (`scene_specs`); `run_job` runs scene 0
    region: Box | None = None  # level-0 x, y, w, h; None: the whole scene
    parameters: dict[str, Any] = field(default_factory=dict)  # overrides of the model's
    mpp: float | None = None  # pixel size override (µm/px), before the stored and the file's
    store: bool = True  # False: the slide's store is left alone (a temporary one is used)
    geojson: bool = True  # export the run to out_dir/<name>.geojson
    maps: bool = True  # write the probability map, when the model makes one
    resume: bool = False  # continue an interrupted run; skip a finished one
    keep_previous: bool = False  # keep earlier runs of this model instead of replacing them
    tissue_detection: bool | None = None  # None: as the model says
    batch_size: int | None = None  # None: as the model says
    run_id: str | None = None  # None: a fresh id (or the interrupted run's, on resume)
    device: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "slide", Path(self.slide))
        if self.out_dir is not None:
            object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.region is not None:
            object.__setattr__(self, "region", tuple(float(v) for v in self.region))
        object.__setattr__(self, "parameters", dict(self.parameters))


@dataclass(frozen=True)
class JobResult:
    spec: JobSpec
    scene: int
    status: JobStatus
    summary: RunSummary  # tiles, time, notes; empty for a run finished earlier
    counts_by_class: dict[str, int]
    geojson: Path | None = None
    zarr: Path | None = None
    replaced: tuple[str, ...] = ()  # ids of the earlier runs this run replaced

    @property
    def slide(self) -> Path:
        return self.spec.slide

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    @property
    def objects(self) -> int:
        return sum(self.counts_by_class.values())

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"


def scene_count(slide_path: Path) -> int:
    with open_slide(slide_path) as slide:
        return max(1, slide.metadata.scene_count)


def scene_specs(spec: JobSpec) -> list[JobSpec]:
    """The spec for each scene it covers: its own scene, or every scene of the file."""
    if spec.scene is not None:
        return [spec]
    return [replace(spec, scene=n) for n in range(scene_count(spec.slide))]


def run_job(
    spec: JobSpec,
    model: TileModel,
    progress: ProgressListener | None = None,
    cancel: CancelToken | None = None,
) -> JobResult:
    """Run `model` (loaded for `spec`) as the spec says; see the module docstring.

    Raises `SlideError` for a bad slide, `InputError` for a region outside it, `ResumeError`
    for a resume log of another run, `AnnotationStoreError` for a store that cannot be used.
    """
    scene = spec.scene or 0
    identity = model.identity()
    with open_slide(spec.slide, scene=scene) as slide:
        pixel_size = apply_pixel_size(slide, spec.mpp)
        meta = slide.metadata
        multi = meta.scene_count > 1
        names = (
            OutputNames.of(spec.out_dir, spec.slide, scene, meta.scene_count)
            if spec.out_dir is not None
            else None
        )
        header = _header(spec, identity, meta.width, meta.height, scene if multi else None)
        header["mpp"] = pixel_size.mpp
        if names is not None:
            names.folder.mkdir(parents=True, exist_ok=True)
            if spec.resume:
                earlier = FinishedRecord.load(names.done)
                if earlier is not None and not same_run(header, earlier.header):
                    return _finished_earlier(spec, scene, earlier)
            names.done.unlink(missing_ok=True)  # this run replaces what the record described
        header["run_id"] = spec.run_id or str(uuid.uuid4())
        with _job_store(spec, names) as store:
            return _run(
                spec, model, identity, slide, scene, multi, names, header, store, progress, cancel
            )


def _run(
    spec: JobSpec,
    model: TileModel,
    identity: ModelIdentity,
    slide: Any,
    scene: int,
    multi: bool,
    names: OutputNames | None,
    header: dict[str, Any],
    store: AnnotationStore | None,
    progress: ProgressListener | None,
    cancel: CancelToken | None,
) -> JobResult:
    resume_log = (
        ResumeLog(names.resume_log, header, resume=spec.resume) if names is not None else None
    )
    run_id = resume_log.run_id if resume_log is not None else str(header["run_id"])
    resuming = resume_log is not None and bool(resume_log.done)
    if names is not None and not resuming:
        _remove_stale_map(names.zarr)  # an earlier run's map of the same name goes
    sinks = _store_sinks(store, identity, run_id, scene if multi else None, resume_log)
    made: list[ProbabilityZarr] = []
    meta = slide.metadata

    def maps(downsample: float) -> ProbabilityZarr | None:
        if names is None or not spec.maps:
            return None
        writer = ProbabilityZarr(
            names.zarr,
            (meta.width, meta.height),
            downsample,
            channels=max(1, len(identity.class_colours)),
            mpp=meta.mpp,
            channel_names=list(identity.class_colours) or None,
            resume=resuming,
        )
        made.append(writer)
        return writer

    options = RunOptions(
        region=spec.region,
        tissue_detection=spec.tissue_detection,
        batch_size=spec.batch_size,
        run_id=run_id,
        object_properties={"scene": scene} if multi else {},
    )
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
        if resume_log is not None:
            resume_log.close()
    zarr_path = names.zarr if names is not None and made else None
    if zarr_path is None and names is not None and resuming:
        zarr_path = _finish_resumed_map(names.zarr, maps, summary.downsample)
    replaced: tuple[str, ...] = ()
    geojson_path = None
    if store is not None:
        if not summary.cancelled and spec.store:
            replaced = _record_in_store(store, spec, identity, run_id, scene, zarr_path)
        if spec.geojson and names is not None:
            _export(store, run_id, names.geojson)
            geojson_path = names.geojson
    counts = summary.counts_by_class()
    status: JobStatus = "cancelled" if summary.cancelled else "done"
    if names is not None and not summary.cancelled:
        FinishedRecord(
            header={k: v for k, v in header.items() if k != "run_id"},
            run_id=run_id,
            counts_by_class=counts,
            geojson=str(geojson_path) if geojson_path else None,
            zarr=str(zarr_path) if zarr_path else None,
        ).save(names.done)
        names.resume_log.unlink(missing_ok=True)
    return JobResult(spec, scene, status, summary, counts, geojson_path, zarr_path, replaced)


def _store_sinks(
    store: AnnotationStore | None,
    identity: ModelIdentity,
    run_id: str,
    scene: int | None,
    resume_log: ResumeLog | None,
) -> list[ResultSink]:
    """The store as the run's sink: the run recorded (and the model's classes with their
    colours learnt) once; on resume the objects already logged, for a store that lacks them."""
    if store is None:
        return []
    if not any(r.run_id == run_id for r in store.runs()):
        adopt_class_colours(store, identity.class_colours)
        parameters = dict(identity.parameters)
        if scene is not None:
            parameters[SCENE_PARAMETER] = scene
        store.add_run(identity.id, identity.version, parameters, run_id=run_id)
    sink = StoreSink(store)
    if resume_log is not None and resume_log.annotations:
        sink.add([], resume_log.annotations)  # a temporary store starts empty on resume
    return [sink]


def _record_in_store(
    store: AnnotationStore,
    spec: JobSpec,
    identity: ModelIdentity,
    run_id: str,
    scene: int,
    zarr_path: Path | None,
) -> tuple[str, ...]:
    """A completed run: it replaces the runs it repeats, and its map is found by its id."""
    replaced = () if spec.keep_previous else _replace_earlier(store, identity, run_id, scene)
    if zarr_path is not None:
        store.set_metadata(f"{HEATMAP_KEY}{run_id}", str(zarr_path.resolve()))
    return replaced


def _export(store: AnnotationStore, run_id: str, path: Path) -> None:
    """The run's objects as the store holds them, with the store's class colours."""
    colours = {c.name: c.colour for c in store.classes()}
    export_geojson(path, store.query(run_id=run_id, include_hidden_runs=True), colours)


def _header(
    spec: JobSpec, identity: ModelIdentity, width: int, height: int, scene: int | None
) -> dict[str, Any]:
    """What makes two runs the same run (resume checks): everything but the run id."""
    return {
        "slide": spec.slide.name,
        "slide_size": [width, height],
        "scene": scene,
        "model": identity.id,
        "model_version": identity.version,
        "model_sha256": identity.sha256,
        "parameters": identity.parameters,
        "region": list(spec.region) if spec.region else None,
        "tissue_detection": spec.tissue_detection,
        "batch_size": spec.batch_size,
    }


@contextlib.contextmanager
def _job_store(spec: JobSpec, names: OutputNames | None) -> Iterator[AnnotationStore | None]:
    """The slide's store; with ``store=False`` a temporary one (when an export needs it)."""
    if spec.store:
        store = AnnotationStore.for_slide(spec.slide, scene=spec.scene or 0)  # per scene
        try:
            yield store
        finally:
            store.close()
        return
    if not (spec.geojson and names is not None):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="tilescope-job-") as folder:
        store = AnnotationStore(Path(folder) / "run.sqlite")
        try:
            yield store
        finally:
            store.close()


def _replace_earlier(
    store: AnnotationStore, identity: ModelIdentity, run_id: str, scene: int
) -> tuple[str, ...]:
    """Delete the earlier runs this run repeats (the user did not ask to keep them)."""
    earlier = tuple(
        r for r in earlier_runs(store, identity.id, scene, identity.parameters) if r != run_id
    )
    if earlier:
        removed = delete_runs(store, earlier)
        log.info(
            "replaced %d earlier run(s) of %s (%d objects)", len(earlier), identity.id, removed
        )
    return earlier


def earlier_runs(
    store: AnnotationStore, model_id: str, scene: int, parameters: dict[str, Any]
) -> list[str]:
    """Runs a new run would repeat: same model, same scene, same parameters (a run with other
    parameters is a different result, kept). The GUI asks before replacing them."""
    found = []
    for run in store.runs():
        theirs = dict(run.parameters)
        their_scene = theirs.pop(SCENE_PARAMETER, 0)
        if run.model_id == model_id and their_scene == scene and theirs == parameters:
            found.append(run.run_id)
    return found


def _finished_earlier(spec: JobSpec, scene: int, record: FinishedRecord) -> JobResult:
    return JobResult(
        spec,
        scene,
        "finished earlier",
        RunSummary(record.run_id),
        dict(record.counts_by_class),
        Path(record.geojson) if record.geojson else None,
        Path(record.zarr) if record.zarr else None,
    )


def _remove_stale_map(path: Path) -> None:
    """A fresh run's map replaces an earlier run's map of the same name (only ours)."""
    if not path.is_dir():
        return
    import zarr

    try:
        ours = "tilescope" in zarr.open_group(str(path), mode="r").attrs
    except Exception:  # not a zarr group: not ours to delete
        return
    if ours:
        shutil.rmtree(path, ignore_errors=True)


def _finish_resumed_map(path: Path, maps: Any, downsample: float) -> Path | None:
    """A resumed run whose remaining tiles wrote nothing to the map: finish the earlier part."""
    if not path.is_dir():
        return None
    writer = maps(downsample)
    if writer is None:
        return None
    writer.finish()
    return path
