"""One export entry for every output the CLI, the GUI and the API offer.

Text formats (GeoJSON, ASAP, ImageScope, CSV, DSA) stream through `write_annotations`; COCO
and label masks need the image size (the slide's, else the objects' bounds) and, for masks,
the pixel size and a downsample.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from tilescope.engine.annotations.classes import Colour
from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.model import Annotation

#: Every format an export can write, in menu order.
EXPORT_FORMATS = ("geojson", "asap", "imagescope", "csv", "dsa", "coco", "labels")
LABEL_KINDS = ("instance", "class")
_BY_SUFFIX = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".xml": "asap",
    ".csv": "csv",
    ".tif": "labels",
    ".tiff": "labels",
    ".zarr": "labels",
}


@dataclass(frozen=True)
class ExportOptions:
    """What some formats need beyond the objects.

    `size` is the slide's level-0 ``(width, height)`` (COCO image size, label mask size);
    without it the objects' bounds are used. `labels` is "instance" or "class".
    """

    class_colours: Mapping[str, Colour] | None = None
    mpp: float | None = None
    size: tuple[int, int] | None = None
    labels: str = "instance"
    downsample: float = 1.0
    image_file_name: str = ""


def format_for_output(path: str | Path) -> str:
    """The export format a file name implies; refuses names that say nothing."""
    suffix = Path(path).suffix.lower()
    if suffix not in _BY_SUFFIX:
        raise AnnotationFormatError(
            path,
            "cannot tell the output format from the extension; name one with --to "
            f"({', '.join(EXPORT_FORMATS)})",
        )
    return _BY_SUFFIX[suffix]


def _finite(items: Iterable[Annotation], dropped: list[int]) -> list[Annotation]:
    """Objects with a position (NaN/inf coordinates cannot be written to any format)."""
    objects = list(items)
    if not objects:
        return objects
    finite = np.isfinite(shapely.bounds(np.array([a.geometry for a in objects], dtype=object)))
    keep = finite.all(axis=1)
    dropped.append(int((~keep).sum()))
    return [a for a, ok in zip(objects, keep, strict=True) if ok]


def export_annotations(
    annotations: Iterable[Annotation],
    path: str | Path,
    format: str | None = None,
    options: ExportOptions | None = None,
    progress: object = None,
) -> list[str]:
    """Write `annotations` as `format` (else from the name); returns notes on what the
    format could not keep. Raises AnnotationFormatError naming the file and problem."""
    from tilescope.engine.annotations.formats import write_annotations

    file = Path(path)
    opts = options or ExportOptions()
    name = format or format_for_output(file)
    if name not in EXPORT_FORMATS:
        raise AnnotationFormatError(file, f"cannot write format {name!r}")
    if name not in ("coco", "labels"):
        return write_annotations(
            annotations,
            file,
            name,
            class_colours=opts.class_colours,
            mpp=opts.mpp,
            progress=progress,  # type: ignore[arg-type]
        )
    dropped: list[int] = []
    items = _finite(annotations, dropped)
    notes = [f"{dropped[0]} object(s) with non-finite coordinates left out"] if dropped[0] else []
    if name == "coco":
        from tilescope.engine.annotations.formats import coco

        return notes + coco.write_image(
            items, file, opts.size, image_file_name=opts.image_file_name
        )
    return notes + _write_labels(items, file, opts)


def _write_labels(items: list[Annotation], path: Path, opts: ExportOptions) -> list[str]:
    from tilescope.engine.annotations.formats import coco, label_mask

    if opts.labels not in LABEL_KINDS:
        raise AnnotationFormatError(path, f"labels must be instance or class, not {opts.labels!r}")
    if not (np.isfinite(opts.downsample) and opts.downsample >= 1):
        raise AnnotationFormatError(path, f"downsample must be 1 or more, not {opts.downsample}")
    if path.suffix.lower() not in (".tif", ".tiff", ".zarr"):
        raise AnnotationFormatError(path, "label masks are written as .tif/.tiff or .zarr")
    width, height = opts.size if opts.size is not None else coco.image_size_from_bounds(items)
    labels = label_mask.write(
        items,
        path,
        width,
        height,
        opts.downsample,
        instances=opts.labels == "instance",
        mpp=opts.mpp,
        class_colours=opts.class_colours,
    )
    del labels
    if opts.mpp is None:
        return ["pixel size unknown: the mask has no resolution in micrometres"]
    return []
