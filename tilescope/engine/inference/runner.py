"""Running a model over a slide or a region: plan, skip background, pipeline, stitch, record.

Pipeline (all in one process): a small thread pool reads and pre-processes upcoming batches
while the model runs the current one (ONNX Runtime releases the GIL) and another thread
post-processes the previous one. The calling thread is the single writer: it applies the
centroid-in-core rule, writes probability maps and objects, records finished tiles in the
resume log, reports progress and checks the cancel token between batches.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tilescope.engine.annotations.model import Annotation, ObjectKind
from tilescope.engine.inference.progress import (
    CancelToken,
    ProgressListener,
    ProgressTracker,
    RunCancelledError,
)
from tilescope.engine.inference.results import ResultSink, ResumeLog, object_id
from tilescope.engine.inference.seams import SeamFilter
from tilescope.engine.inference.stitching import ProbabilityZarr, filter_instances
from tilescope.engine.inference.tiling import (
    Box,
    clip_region,
    full_region,
    model_resolution,
    plan_tiles,
)
from tilescope.engine.inference.tissue import TissueMap, detect_tissue
from tilescope.engine.inference.types import RegionInfo, TileInfo, TileModel, TileResult
from tilescope.engine.slide.region import RegionRequest
from tilescope.engine.slide.source import SlideSource

log = logging.getLogger(__name__)

READ_AHEAD = 2  # batches prepared ahead of the model
POST_BEHIND = 2  # batches post-processed behind it


@dataclass
class RunSummary:
    """What a run did; `annotations` are all kept objects (resumed ones included)."""

    run_id: str
    annotations: list[Annotation] = field(default_factory=list)
    tiles_total: int = 0  # tiles in the plan
    tiles_run: int = 0  # tiles the model saw in this call
    tiles_resumed: int = 0  # tiles already done by an earlier, interrupted call
    tiles_skipped: int = 0  # background tiles
    seconds: float = 0.0
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)
    downsample: float = 1.0

    @property
    def tiles_per_second(self) -> float:
        return self.tiles_run / self.seconds if self.seconds > 0 else 0.0

    @property
    def skipped_fraction(self) -> float:
        return self.tiles_skipped / self.tiles_total if self.tiles_total else 0.0

    def counts_by_class(self) -> dict[str, int]:
        return dict(Counter(a.class_name or "Unclassified" for a in self.annotations))


@dataclass
class RunOptions:
    region: Box | None = None  # level-0 x, y, w, h; None = whole slide
    tissue_detection: bool | None = None  # None: as the model says
    batch_size: int | None = None  # None: as the model says
    io_threads: int = 2
    run_id: str | None = None
    #: added to every object's properties (e.g. ``{"scene": 2}`` in a multi-scene file)
    object_properties: dict[str, Any] = field(default_factory=dict)


def _plan(
    slide: SlideSource, model: TileModel, options: RunOptions, notes: list[str]
) -> tuple[list[TileInfo], list[TileInfo], float]:
    """(tiles to run, background tiles, downsample)."""
    meta = slide.metadata
    spec = model.tile_spec()
    resolution = model_resolution(spec, meta)
    if resolution.note:
        notes.append(resolution.note)
    region = clip_region(options.region, meta) if options.region else full_region(meta)
    tiles = plan_tiles(region, meta, spec, resolution.downsample)
    use_tissue = (
        model.uses_tissue_detection()
        if options.tissue_detection is None
        else (options.tissue_detection)
    )
    if not use_tissue or len(tiles) <= 1:
        return tiles, [], resolution.downsample
    tissue: TissueMap = detect_tissue(slide)
    keep = [t for t in tiles if tissue.has_tissue(t.level0_core)]
    background = [t for t in tiles if not tissue.has_tissue(t.level0_core)]
    return keep, background, resolution.downsample


def read_tile(slide: SlideSource, tile: TileInfo) -> np.ndarray:
    d = tile.downsample
    return slide.read_region(RegionRequest(tile.x, tile.y, tile.width * d, tile.height * d, d))


def _batches(tiles: Sequence[TileInfo], size: int) -> list[list[TileInfo]]:
    return [list(tiles[i : i + size]) for i in range(0, len(tiles), size)]


MapFactory = Callable[[float], ProbabilityZarr | None]


class _Writer:
    """The single writer: filters instances, numbers them, writes sinks, maps and the log.

    The probability map is made when the first tile brings probabilities, so models that
    make none (instance models) leave no map behind. Tiles blend only into neighbours that
    are written too (`planned`): at the edge of the region or of tissue a tile keeps its own
    values instead of fading into the zeros of a tile that never comes.
    """

    def __init__(
        self,
        run_id: str,
        model: TileModel,
        sinks: Sequence[ResultSink],
        resume_log: ResumeLog | None,
        summary: RunSummary,
        *,
        maps: MapFactory | None = None,
        planned: set[tuple[int, int]] | None = None,
        object_properties: dict[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.model = model
        self.sinks = sinks
        self.resume_log = resume_log
        self.summary = summary
        self.halo = model.tile_spec().halo
        self.seams = SeamFilter()
        self.maps: ProbabilityZarr | None = None
        self._map_factory = maps
        self._planned = planned
        self._properties = dict(object_properties or {})

    def _blend_edges(self, tile: TileInfo) -> tuple[bool, bool, bool, bool]:
        """Blend towards each neighbour the plan writes too (both sides of a seam agree)."""
        if self._planned is None:
            return tile.inner_edges
        c, r, planned = tile.col, tile.row, self._planned
        return (
            (c - 1, r) in planned,
            (c, r - 1) in planned,
            (c + 1, r) in planned,
            (c, r + 1) in planned,
        )

    def open_maps(self) -> ProbabilityZarr | None:
        if self.maps is None and self._map_factory is not None:
            self.maps = self._map_factory(self.summary.downsample)
            self._map_factory = None  # asked once: None means this run writes no map
        return self.maps

    def write(self, tiles: list[TileInfo], results: list[TileResult]) -> None:
        kept: list[Annotation] = []
        for tile, result in zip(tiles, results, strict=True):
            objects = self.seams.keep(
                tile,
                filter_instances(result.instances, tile) + filter_instances(result.boxes, tile),
            )
            for number, obj in enumerate(objects):
                extra = {"properties": {**obj.properties, **self._properties}}
                kept.append(
                    obj.evolve(
                        id=object_id(self.run_id, tile.index, number),
                        run_id=self.run_id,
                        kind=ObjectKind.DETECTION,
                        **(extra if self._properties else {}),
                    )
                )
            if result.probabilities is not None:
                maps = self.open_maps()
                if maps is not None:
                    maps.write_tile(tile, result.probabilities, self.halo, self._blend_edges(tile))
        for sink in self.sinks:
            sink.add(tiles, kept)
        if self.resume_log is not None:
            self.resume_log.add(tiles, kept)  # last: a batch counts as done only once stored
        self.summary.annotations.extend(kept)
        self.summary.tiles_run += len(tiles)


def run_on_slide(
    slide: SlideSource,
    model: TileModel,
    options: RunOptions | None = None,
    *,
    sinks: Sequence[ResultSink] = (),
    resume_log: ResumeLog | None = None,
    probability_maps: Callable[[float], ProbabilityZarr | None] | None = None,
    progress: ProgressListener | None = None,
    cancel: CancelToken | None = None,
) -> RunSummary:
    """Run `model` over `slide` (or `options.region`); see the module docstring.

    `probability_maps(downsample)` makes the map writer when the first tile brings
    probabilities. Cancelling returns a summary with `cancelled=True`; what finished is kept
    (and logged). A resumed run feeds the seam filter the objects already written, so an
    object at a seam is dropped as a copy exactly as it would have been without the stop.
    """
    options = options or RunOptions()
    cancel = cancel or CancelToken()
    start = time.perf_counter()
    run_id = resume_log.run_id if resume_log is not None else (options.run_id or str(uuid.uuid4()))
    summary = RunSummary(run_id)
    spec = model.tile_spec()
    if spec.whole_image:
        summary = _run_whole_image(slide, model, options, summary, sinks, start)
        ProgressTracker(1, 0, 0, progress).advance(1)
        return summary
    tiles, background, downsample = _plan(slide, model, options, summary.notes)
    summary.downsample = downsample
    summary.tiles_total = len(tiles) + len(background)
    summary.tiles_skipped = len(background)
    writer = _Writer(
        run_id,
        model,
        sinks,
        resume_log,
        summary,
        maps=probability_maps,
        planned={(t.col, t.row) for t in tiles},
        object_properties=options.object_properties,
    )
    if resume_log is not None:
        summary.annotations.extend(resume_log.annotations)
        summary.tiles_resumed = sum(1 for t in tiles if t.index in resume_log.done)
        done = [t for t in tiles if t.index in resume_log.done]
        for tile, objects in _owners(done, resume_log.annotations).items():
            writer.seams.remember(tile, objects)
        tiles = [t for t in tiles if t.index not in resume_log.done]
    tracker = ProgressTracker(
        summary.tiles_total - summary.tiles_skipped,
        summary.tiles_skipped,
        summary.tiles_resumed,
        progress,
    )
    batch_size = options.batch_size or spec.batch_size
    try:
        _pipeline(slide, model, _batches(tiles, batch_size), writer, tracker, cancel, options)
    except RunCancelledError:
        summary.cancelled = True
    if writer.maps is not None:
        writer.maps.finish()
    summary.seconds = time.perf_counter() - start
    return summary


def _owners(
    tiles: Sequence[TileInfo], objects: Sequence[Annotation]
) -> dict[TileInfo, list[Annotation]]:
    """The tile whose core holds each object's centroid: the tile that kept it."""
    import bisect

    cols = sorted({(t.level0_core[0], t.col) for t in tiles})
    rows = sorted({(t.level0_core[1], t.row) for t in tiles})
    by_cell = {(t.col, t.row): t for t in tiles}
    owners: dict[TileInfo, list[Annotation]] = {}
    xs, ys = [x for x, _ in cols], [y for y, _ in rows]
    for obj in objects:
        if obj.geometry.is_empty:
            continue
        c = obj.geometry.centroid
        i, j = bisect.bisect_right(xs, c.x) - 1, bisect.bisect_right(ys, c.y) - 1
        if i < 0 or j < 0:
            continue
        tile = by_cell.get((cols[i][1], rows[j][1]))
        if tile is not None:
            owners.setdefault(tile, []).append(obj)
    return owners


def _pipeline(
    slide: SlideSource,
    model: TileModel,
    batches: list[list[TileInfo]],
    writer: _Writer,
    tracker: ProgressTracker,
    cancel: CancelToken,
    options: RunOptions,
) -> None:
    def prepare(batch: list[TileInfo]) -> dict[str, np.ndarray]:
        return model.preprocess([read_tile(slide, t) for t in batch])

    readers = ThreadPoolExecutor(max(1, options.io_threads), thread_name_prefix="infer-read")
    post = ThreadPoolExecutor(1, thread_name_prefix="infer-post")
    prepared: deque[Future[dict[str, np.ndarray]]] = deque()
    finishing: deque[tuple[list[TileInfo], Future[list[TileResult]]]] = deque()
    upcoming = iter(batches)

    def feed() -> None:
        for batch in upcoming:
            prepared.append(readers.submit(prepare, batch))
            return

    def drain(limit: int) -> None:
        while len(finishing) > limit or (finishing and finishing[0][1].done()):
            tiles, future = finishing.popleft()
            writer.write(tiles, future.result())
            tracker.advance(len(tiles))

    try:
        for _ in range(READ_AHEAD):
            feed()
        for batch in batches:
            cancel.raise_if_cancelled()
            inputs = prepared.popleft().result()
            feed()
            outputs = model.run(inputs)
            finishing.append((batch, post.submit(model.postprocess, outputs, batch)))
            drain(POST_BEHIND)
        drain(0)
    except RunCancelledError:
        for _, future in finishing:  # finished work is kept; only unstarted work is dropped
            future.cancel()
        for tiles, future in list(finishing):
            if not future.cancelled():
                writer.write(tiles, future.result())
                tracker.advance(len(tiles))
        finishing.clear()
        raise
    finally:
        for pending in prepared:
            pending.cancel()
        readers.shutdown(wait=True, cancel_futures=True)
        post.shutdown(wait=True, cancel_futures=True)


def _run_whole_image(
    slide: SlideSource,
    model: TileModel,
    options: RunOptions,
    summary: RunSummary,
    sinks: Sequence[ResultSink],
    start: float,
) -> RunSummary:
    """Whole-image types: read the region once at the model's resolution and call run_region."""
    meta = slide.metadata
    resolution = model_resolution(model.tile_spec(), meta)
    if resolution.note:
        summary.notes.append(resolution.note)
    x, y, w, h = clip_region(options.region, meta) if options.region else full_region(meta)
    d = resolution.downsample
    image = slide.read_region(RegionRequest(x, y, w, h, d))
    objects = model.run_region(image, RegionInfo(x, y, d))
    kept = [
        o.evolve(id=object_id(summary.run_id, 0, n), run_id=summary.run_id)
        for n, o in enumerate(objects)
    ]
    tile = TileInfo(
        0, x, y, image.shape[1], image.shape[0], d, (0, 0, image.shape[1], image.shape[0])
    )
    for sink in sinks:
        sink.add([tile], kept)
    summary.annotations = kept
    summary.tiles_total = summary.tiles_run = 1
    summary.downsample = d
    summary.seconds = time.perf_counter() - start
    return summary


def run_on_image(model: TileModel, image: np.ndarray, **kwargs: Any) -> RunSummary:
    """Run a model on an in-memory H x W x C image (level-0 = the image's pixels)."""
    from tilescope.engine.inference.memory_slide import ArraySlide

    with ArraySlide(image) as slide:
        return run_on_slide(slide, model, **kwargs)
