"""Export annotations from a file, a slide's store or a list, to any export format.

The one place that joins the slide (its size and pixel size, by `pixel_size`'s precedence) to
the annotation exporters, so the CLI, the GUI and `tilescope.api` give the same files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.formats import (
    ExportOptions,
    export_store,
    read_annotations,
    sniff_format,
)
from tilescope.engine.annotations.formats.export import export_annotations as _export
from tilescope.engine.annotations.model import Annotation


@dataclass(frozen=True)
class SlideFrame:
    """What an export needs to know about the slide: level-0 size and pixel size."""

    path: Path
    size: tuple[int, int]
    mpp: float | None


def slide_frame(path: str | Path, mpp: float | None = None, scene: int = 0) -> SlideFrame:
    """Open the slide (scene) just long enough to read its size and resolve its pixel size."""
    from tilescope.engine.pixel_size import resolve_pixel_size
    from tilescope.engine.slide import open_slide

    with open_slide(path, scene=scene) as slide:
        meta = slide.metadata
        size = (int(meta.levels[0].width), int(meta.levels[0].height))
        pixel = resolve_pixel_size(path, meta.mpp, mpp)
    return SlideFrame(Path(path), size, pixel.mpp)


def is_annotation_file(path: str | Path) -> bool:
    try:
        sniff_format(path)
    except AnnotationFormatError:
        return False
    return True


def export_annotations(
    source: str | Path | Iterable[Annotation],
    out: str | Path,
    format: str | None = None,
    *,
    slide: str | Path | None = None,
    run: str | None = None,
    labels: str = "instance",
    downsample: float = 1.0,
    mpp: float | None = None,
    outside: str = "clip",
    scene: int = 0,
) -> list[str]:
    """Write `source` (an annotation file, a slide whose stored annotations are exported, or
    Annotation objects) to `out` as `format` (geojson, asap, imagescope, csv, dsa, coco,
    labels; else from the name). `slide` gives the image size and pixel size (a slide
    `source` is its own); `run` picks one model run of a slide's store and `scene` the store
    of one scene (page) of a multi-scene file. Returns notes on
    what the format could not keep; raises a TilescopeError subclass naming the problem."""
    frame = slide_frame(slide, mpp) if slide is not None else None
    if isinstance(source, (str, Path)) and not is_annotation_file(source):
        from tilescope.engine.annotations.store import AnnotationStore, existing_store_path

        frame = frame or slide_frame(source, mpp, scene)
        store_path = existing_store_path(source, scene=scene)
        if store_path is None:
            raise AnnotationFormatError(source, "no annotations are stored for this slide")
        options = _options(frame, None, frame.mpp, labels, downsample)
        with AnnotationStore(store_path) as store:
            filters: dict[str, Any] = {}
            if run is not None:
                if run not in {r.run_id for r in store.runs()}:
                    raise AnnotationFormatError(source, f"no model run {run!r} in its store")
                filters = {"run_id": run, "include_hidden_runs": True}
            return export_store(store, out, format, options=options, **filters)
    if run is not None:
        raise AnnotationFormatError(out, "a run can only be chosen when exporting a slide")
    notes: list[str] = []
    colours = None
    file_mpp = None
    if isinstance(source, (str, Path)):
        bounds = frame.size if frame is not None else None
        found = read_annotations(source, bounds=bounds, outside=outside)
        items: list[Annotation] = found.annotations
        colours, file_mpp, notes = found.class_colours, found.mpp, list(found.notes)
    else:
        items = list(source)
    pixel = mpp or (frame.mpp if frame is not None else None) or file_mpp
    return notes + _export(items, out, format, _options(frame, colours, pixel, labels, downsample))


def load_objects(source: str | Path, run: str | None = None, scene: int = 0) -> list[Annotation]:
    """The objects of an annotation file, or those stored for a slide (scene; one `run`)."""
    if is_annotation_file(source):
        return read_annotations(source).annotations
    from tilescope.engine.annotations.store import AnnotationStore, existing_store_path

    store_path = existing_store_path(source, scene=scene)
    if store_path is None:
        raise AnnotationFormatError(source, "no annotations are stored for this slide")
    with AnnotationStore(store_path) as store:
        if run is None:
            return list(store.iter_all())
        return store.query(run_id=run, include_hidden_runs=True)


def _options(
    frame: SlideFrame | None,
    colours: dict | None,
    mpp: float | None,
    labels: str,
    downsample: float,
) -> ExportOptions:
    return ExportOptions(
        class_colours=colours,
        mpp=mpp,
        size=frame.size if frame is not None else None,
        labels=labels,
        downsample=downsample,
        image_file_name=frame.path.name if frame is not None else "",
    )
