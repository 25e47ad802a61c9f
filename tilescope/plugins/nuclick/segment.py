"""Prompts on a slide -> outlines: read patches at the model's mpp, one batched run, polygons.

Every click gets a patch centred on it; all clicks of a call go through the network in
batches of `batch_size` (one `session.run` for a GUI click, or for 20). Each click's
exclusion map holds the other clicks of the call, the negative (background) clicks and any
`exclude` points the caller passes (e.g. centres of nuclei outlined earlier), so touching
nuclei clicked one after the other stay apart. A squiggle gets a patch that holds it whole
(up to `max_patch` model pixels, read coarser beyond that) and is run on its own.

A click gives one polygon (the component under it, holes filled); a squiggle over separate
parts gives a multipolygon. Outlines follow the model's probability at sub-pixel precision
(`postprocess.probability_outline`), not the pixel staircase of the thresholded mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from shapely.geometry import MultiPolygon

from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.engine.inference.types import Prompt
from tilescope.engine.slide.source import SlideSource
from tilescope.plugins.nuclick.encoding import (
    PatchWindow,
    disk_map,
    encode,
    exclusion_map,
    polyline_map,
)
from tilescope.plugins.nuclick.postprocess import (
    on_glass,
    probability_outline,
    select_object,
    to_level0,
)

NOTHING_FOUND = "nothing under the click"
SNAP_TOLERANCE = 0.1  # use a level's own downsample when within 10% (training jitter: +-25%)
_MULTIPLE = 32  # network input sides must be multiples of this
SQUIGGLE_MIN_PATCH = 128  # model pixels: context around a squiggle
SQUIGGLE_MARGIN = 32  # model pixels between the squiggle's ends and the patch border


@dataclass(frozen=True, slots=True)
class NuClickSettings:
    """How to feed one NuClick model (from its manifest and parameters)."""

    mpp: float | None  # None: the slide's native pixels
    patch: int = 128
    threshold: float = 0.5
    signal_radius: float = 2.0
    squiggle_width: int = 3
    min_area: int = 10
    max_patch: int = 512
    simplify: float = 0.2  # the outline is smooth already: a light touch keeps its shape
    batch_size: int = 32
    model_id: str = "nuclick"


@dataclass(frozen=True, slots=True)
class PromptOutcome:
    """What one prompt produced: an annotation, or the reason there is none."""

    prompt: Prompt
    annotation: Annotation | None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class _Job:
    index: int  # position in the caller's prompt list
    window: PatchWindow
    inclusion: np.ndarray
    points: np.ndarray  # the prompt's level-0 points
    centre: np.ndarray  # level-0 centre of the window


def model_downsample(slide: SlideSource, mpp: float | None) -> float:
    """Level-0 pixels per model pixel; snapped to a pyramid level's (or a whole) downsample
    when that is within `SNAP_TOLERANCE`, so reads need no resampling."""
    slide_mpp = slide.metadata.mpp
    if mpp is None or slide_mpp is None:
        return 1.0
    wanted = mpp / (0.5 * (slide_mpp[0] + slide_mpp[1]))
    candidates = [*slide.metadata.downsamples, float(max(1, round(wanted)))]
    best = min(candidates, key=lambda d: abs(d - wanted))
    return best if abs(best - wanted) <= SNAP_TOLERANCE * wanted else wanted


def _round_up(value: float, multiple: int = _MULTIPLE) -> int:
    return int(math.ceil(value / multiple) * multiple)


class NuClickSegmenter:
    """Runs one NuClick ONNX session over prompts on a slide."""

    def __init__(self, session: Any, settings: NuClickSettings) -> None:
        self.session = session
        self.settings = settings
        self.input_name = str(session.get_inputs()[0].name)

    def segment(
        self,
        slide: SlideSource,
        prompts: Sequence[Prompt],
        exclude: Sequence[tuple[float, float]] = (),
    ) -> list[PromptOutcome]:
        """One outcome per prompt, in order (negative prompts only steer the others)."""
        s = self.settings
        ds = model_downsample(slide, s.mpp)
        meta = slide.metadata
        negatives = [p.points[0] for p in prompts if not p.positive and p.kind == "point"]
        clicks = [p.points[0] for p in prompts if p.positive and p.kind == "point"]
        avoid = np.array([*clicks, *negatives, *exclude], dtype=np.float64).reshape(-1, 2)
        outcomes: list[PromptOutcome | None] = [None] * len(prompts)
        click_jobs: list[_Job] = []
        for index, prompt in enumerate(prompts):
            if not prompt.positive:
                outcomes[index] = PromptOutcome(prompt, None, "background click")
                continue
            pts = np.asarray(prompt.points, dtype=np.float64)
            inside = (pts[:, 0] >= 0) & (pts[:, 0] < meta.width)
            inside &= (pts[:, 1] >= 0) & (pts[:, 1] < meta.height)
            if not inside.any():
                outcomes[index] = PromptOutcome(prompt, None, "outside the slide")
                continue
            if prompt.kind == "point":
                click_jobs.append(self._job(index, pts, pts[0], s.patch, ds))
            else:
                job = self._squiggle_job(index, pts, ds)
                outcomes[index] = self._run_with_retry(slide, [job], avoid, prompts)[0]
        for start in range(0, len(click_jobs), s.batch_size):
            chunk = click_jobs[start : start + s.batch_size]
            done = self._run_with_retry(slide, chunk, avoid, prompts)
            for job, outcome in zip(chunk, done, strict=True):
                outcomes[job.index] = outcome
        return [o for o in outcomes if o is not None]

    def _job(self, index: int, pts: np.ndarray, centre: np.ndarray, size: int, ds: float) -> _Job:
        s = self.settings
        window = PatchWindow.centred(float(centre[0]), float(centre[1]), size, size, ds)
        local = window.to_patch(pts)
        if len(pts) == 1:
            inclusion = disk_map(local, size, size, s.signal_radius)
        else:
            inclusion = polyline_map(local, size, size, s.squiggle_width)
        return _Job(index, window, inclusion, pts, centre)

    def _run_with_retry(
        self, slide: SlideSource, jobs: list[_Job], avoid: np.ndarray, prompts: Sequence[Prompt]
    ) -> list[PromptOutcome]:
        """Run `jobs`; objects cut by the patch border are run again in a patch twice as large
        (the small click patch is the fast path, large nuclei take the second)."""
        results = self._run(slide, jobs, avoid, prompts)
        retry = [
            k
            for k, (_, cut) in enumerate(results)
            if cut and jobs[k].window.width < _round_up(self.settings.max_patch)
        ]
        outcomes = [outcome for outcome, _ in results]
        if retry:
            bigger = [self._grown(jobs[k]) for k in retry]
            for k, (outcome, _) in zip(
                retry, self._run(slide, bigger, avoid, prompts), strict=True
            ):
                outcomes[k] = outcome
        return outcomes

    def _grown(self, job: _Job) -> _Job:
        size = min(2 * job.window.width, _round_up(self.settings.max_patch))
        return self._job(job.index, job.points, job.centre, size, job.window.downsample)

    def _squiggle_job(self, index: int, pts: np.ndarray, ds: float) -> _Job:
        s = self.settings
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        extent = float((hi - lo).max()) / ds + 2 * SQUIGGLE_MARGIN
        if extent > s.max_patch:  # too long for one patch at the model's mpp: read coarser
            ds *= extent / s.max_patch
            extent = s.max_patch
        size = min(max(s.patch, SQUIGGLE_MIN_PATCH, _round_up(extent)), _round_up(s.max_patch))
        if len(pts) == 1:  # a squiggle of one point is still a line, not a click disk
            pts = np.vstack([pts, pts])
        return self._job(index, pts, (lo + hi) / 2, size, ds)

    def _run(
        self,
        slide: SlideSource,
        jobs: list[_Job],
        avoid: np.ndarray,
        prompts: Sequence[Prompt],
    ) -> list[tuple[PromptOutcome, bool]]:
        """(outcome, whether the object touches the patch border) per job."""
        s = self.settings
        rgb = np.stack([self._read_rgb(slide, job.window) for job in jobs])
        exclusion = [
            exclusion_map(
                job.window, avoid, prompts[job.index].points[0], s.signal_radius, job.inclusion
            )
            for job in jobs
        ]
        batch = encode(rgb, np.stack([j.inclusion for j in jobs]), np.stack(exclusion))
        logits = self.session.run(None, {self.input_name: batch})[0][:, 0]
        probability = 1.0 / (1.0 + np.exp(-logits))
        return [
            self._outcome(prompts[job.index], job, probability[k], rgb[k])
            for k, job in enumerate(jobs)
        ]

    def _read_rgb(self, slide: SlideSource, window: PatchWindow) -> np.ndarray:
        pixels = np.asarray(slide.read_region(window.request()))
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        if pixels.shape[2] == 1:
            pixels = np.repeat(pixels, 3, axis=2)
        if pixels.dtype != np.uint8:  # brightfield models see 8-bit RGB
            top = float(pixels.max()) or 1.0
            pixels = np.clip(pixels.astype(np.float32) * (255.0 / top), 0, 255).astype(np.uint8)
        return pixels[..., :3]

    def _outcome(
        self, prompt: Prompt, job: _Job, probability: np.ndarray, rgb: np.ndarray
    ) -> tuple[PromptOutcome, bool]:
        s = self.settings
        click = prompt.kind == "point"  # one nucleus; a squiggle may span separate parts
        mask = select_object(probability, job.inclusion, s.threshold, s.min_area, single=click)
        if mask is None or on_glass(rgb, mask):
            return PromptOutcome(prompt, None, NOTHING_FOUND), False
        cut = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        outline = probability_outline(probability, mask, s.threshold, s.simplify)
        geometry = to_level0(outline, job.window)
        if geometry.is_empty:
            return PromptOutcome(prompt, None, NOTHING_FOUND), False
        shape = ShapeType.MULTIPOLYGON if isinstance(geometry, MultiPolygon) else ShapeType.POLYGON
        annotation = Annotation(
            geometry=geometry,
            shape_type=shape,
            kind=ObjectKind.ANNOTATION,
            score=round(float(probability[mask].mean()), 4),
            properties={"source": "nuclick", "model": s.model_id, "prompt": prompt.kind},
        )
        return PromptOutcome(prompt, annotation), cut
