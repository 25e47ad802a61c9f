"""Label-mask export: objects rasterised at a chosen downsample, as tiled TIFF or OME-Zarr.

Pixel (i, j) of the mask covers level-0 ``[j*d, (j+1)*d) x [i*d, (i+1)*d)``; it is set when its
centre lies inside an object (scikit-image's polygon fill), so masks agree with QuPath's.
Labels are class indices (1-based, 0 = background) or instance numbers.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry
from skimage.draw import line as draw_line
from skimage.draw import polygon as fill_polygon

from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.model import Annotation

MAX_MASK_BYTES = 4 << 30


def _fill(mask: np.ndarray, geometry: BaseGeometry, value: int, scale: float) -> None:
    def rc(coords: object) -> tuple[np.ndarray, np.ndarray]:
        xy = np.asarray(coords, dtype=np.float64)[:, :2] / scale - 0.5
        return xy[:, 1], xy[:, 0]

    kind = geometry.geom_type
    if kind in ("MultiPolygon", "MultiPoint", "MultiLineString", "GeometryCollection"):
        for part in geometry.geoms:
            _fill(mask, part, value, scale)
    elif kind == "Polygon":
        rows, cols = rc(geometry.exterior.coords)
        rr, cc = fill_polygon(rows, cols, mask.shape)
        mask[rr, cc] = value
        for hole in geometry.interiors:
            rows, cols = rc(hole.coords)
            rr, cc = fill_polygon(rows, cols, mask.shape)
            mask[rr, cc] = 0
    elif kind == "LineString":
        rows, cols = rc(geometry.coords)
        pts = np.rint(np.column_stack([rows, cols])).astype(np.int64)
        for (r0, c0), (r1, c1) in itertools.pairwise(pts):
            rr, cc = draw_line(int(r0), int(c0), int(r1), int(c1))
            keep = (rr >= 0) & (rr < mask.shape[0]) & (cc >= 0) & (cc < mask.shape[1])
            mask[rr[keep], cc[keep]] = value
    elif kind == "Point":
        r, c = (int(v) for v in np.floor(np.asarray(geometry.coords[0][:2])[::-1] / scale))
        if 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1]:
            mask[r, c] = value


def rasterise(
    annotations: Iterable[Annotation],
    width: int,
    height: int,
    downsample: float = 1.0,
    *,
    instances: bool = False,
    class_index: Mapping[str | None, int] | None = None,
    progress: Callable[[int], bool | None] | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """The mask array and the label of each class (or of each object id, for instances).

    `progress(n_done)` is called every 1,000 objects; returning False cancels (ValueError).
    """
    if downsample <= 0:
        raise ValueError("downsample must be positive")
    shape = (max(1, int(np.ceil(height / downsample))), max(1, int(np.ceil(width / downsample))))
    items = list(annotations)
    dtype = np.uint32 if instances and len(items) >= 65535 else np.uint16
    if shape[0] * shape[1] * np.dtype(dtype).itemsize > MAX_MASK_BYTES:
        raise ValueError(f"a {shape[1]} x {shape[0]} mask is too large; choose a larger downsample")
    mask = np.zeros(shape, dtype=dtype)
    labels: dict[str, int] = {}
    index = dict(class_index or {})
    for n, a in enumerate(items, start=1):
        if instances:
            value = n
            labels[a.id] = n
        else:
            if a.class_name not in index:
                index[a.class_name] = max(index.values(), default=0) + 1
            value = index[a.class_name]
            labels[a.class_name or ""] = value
        _fill(mask, a.geometry, value, downsample)
        if progress is not None and n % 1000 == 0 and progress(n) is False:
            raise ValueError("label-mask export cancelled")
    return mask, labels


def write(
    annotations: Iterable[Annotation],
    path: Path,
    width: int,
    height: int,
    downsample: float = 1.0,
    *,
    instances: bool = False,
    class_index: Mapping[str | None, int] | None = None,
    mpp: float | None = None,
    class_colours: Mapping[str, tuple[int, int, int]] | None = None,
) -> dict[str, int]:
    """Write `path` (.tif/.tiff: tiled TIFF; .zarr: an OME-NGFF 0.4 label image); returns the
    label table. With the slide's pixel size `mpp` the TIFF gets resolution tags and the
    zarr a scale in micrometres, both at the mask's own (downsampled) pixel size."""
    try:
        mask, labels = rasterise(
            annotations, width, height, downsample, instances=instances, class_index=class_index
        )
    except ValueError as error:
        raise AnnotationFormatError(path, str(error)) from None
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        extra: dict[str, object] = {}
        if mpp:
            per_cm = 1e4 / (mpp * downsample)
            extra = {"resolution": (per_cm, per_cm), "resolutionunit": "CENTIMETER"}
        try:
            tifffile.imwrite(
                path,
                mask,
                tile=(256, 256),
                compression="zlib",
                metadata=None,
                description=json.dumps({"labels": labels, "downsample": downsample, "mpp": mpp}),
                **extra,  # type: ignore[arg-type]
            )
        except OSError as error:
            raise AnnotationFormatError(path, f"cannot write ({error.strerror})") from None
    elif suffix == ".zarr":
        colours = None
        if not instances:
            colours = {v: (class_colours or {}).get(k) for k, v in labels.items()}
        _write_ome_zarr(path, mask, labels, downsample, mpp, colours)
    else:
        raise AnnotationFormatError(path, "label masks are written as .tif/.tiff or .zarr")
    return labels


def _write_ome_zarr(
    path: Path,
    mask: np.ndarray,
    labels: dict[str, int],
    ds: float,
    mpp: float | None = None,
    colours: Mapping[int, tuple[int, int, int] | None] | None = None,
) -> None:
    import zarr

    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    array = group.create_array("0", shape=mask.shape, dtype=mask.dtype, chunks=(1024, 1024))
    array[...] = mask
    axes: list[dict[str, str]] = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    scale = [ds, ds]
    if mpp:
        for axis in axes:
            axis["unit"] = "micrometer"
        scale = [mpp * ds, mpp * ds]
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "name": "labels",
            "axes": axes,
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
            ],
        }
    ]
    image_label: dict[str, Any] = {"version": "0.4"}
    if colours:
        image_label["colors"] = [
            {"label-value": value, "rgba": [*colour, 255]}
            for value, colour in sorted(colours.items())
            if colour is not None
        ]
    group.attrs["image-label"] = image_label
    group.attrs["tilescope_labels"] = labels
