"""`measure_objects`: shape and stain measurements for many objects, worker-friendly.

Called from a GUI worker thread or the CLI: reports progress per tile and stops between tiles
when its CancelToken is set. `measure_store` measures objects of a slide's store and writes the
columns back (one transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from shapely.geometry.base import BaseGeometry

from tilescope.engine.analysis.intensity import measure_intensity
from tilescope.engine.analysis.shape import shape_features
from tilescope.engine.analysis.stain import H_E_DAB, StainVectors
from tilescope.engine.annotations.model import Annotation, ObjectKind
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.errors import InputError
from tilescope.engine.inference.progress import CancelToken
from tilescope.engine.slide.source import SlideSource

DEFAULT_RING_UM = 2.0


@dataclass(frozen=True, slots=True)
class MeasureOptions:
    """What to measure: stains (None: shape only) and the ring width (um; px without mpp)."""

    stains: StainVectors | None = H_E_DAB
    ring_um: float = DEFAULT_RING_UM
    tile_size: int = 2048
    threads: int = 2


def _geometries(objects: Sequence[Annotation | BaseGeometry] | np.ndarray) -> np.ndarray:
    geoms = np.empty(len(objects), dtype=object)
    geoms[:] = [o.geometry if isinstance(o, Annotation) else o for o in objects]
    return geoms


def measure_objects(
    slide: SlideSource | None,
    annotations: Sequence[Annotation | BaseGeometry] | np.ndarray,
    mpp: float | None,
    progress: Callable[..., None] | None = None,
    cancel: CancelToken | None = None,
    options: MeasureOptions = MeasureOptions(),
) -> dict[str, np.ndarray]:
    """One float64 column per measurement, aligned with `annotations`.

    Without a slide (or without stains) only shape is measured. Stain intensities are read
    from level 0 of an RGB slide.
    """
    if options.ring_um < 0:
        raise InputError("ring width", f"must be zero or more, got {options.ring_um}")
    geoms = _geometries(annotations)
    columns = shape_features(geoms, mpp)
    if slide is None or options.stains is None or not len(geoms):
        return columns
    meta = slide.metadata
    if not meta.is_rgb:
        raise InputError(str(slide.path), "stain measurements need a brightfield RGB image")
    ring_px = options.ring_um / mpp if mpp else options.ring_um

    def read(x: int, y: int, w: int, h: int) -> np.ndarray:
        return slide.read_level_region(0, x, y, w, h)

    columns.update(
        measure_intensity(
            read,
            geoms,
            (meta.width, meta.height),
            options.stains,
            ring_px,
            tile_size=options.tile_size,
            threads=options.threads,
            progress=progress,
            cancel=cancel,
        )
    )
    return columns


def measure_store(
    store: AnnotationStore,
    slide: SlideSource | None,
    mpp: float | None,
    ids: Sequence[str] | None = None,
    run_id: str | None = None,
    progress: Callable[..., None] | None = None,
    cancel: CancelToken | None = None,
    options: MeasureOptions = MeasureOptions(),
    kind: ObjectKind | str | None = None,
) -> list[str]:
    """Measure objects of a store (the given ids, else a run's objects, else all objects, of
    `kind` if given) and store the columns; returns the measurement names."""
    table = store.object_table(ids=ids, run_id=run_id, kind=kind)
    columns = measure_objects(slide, table.geometries, mpp, progress, cancel, options)
    if cancel is not None:
        cancel.raise_if_cancelled()
    store.set_measurements(table.ids, columns)
    return list(columns)
