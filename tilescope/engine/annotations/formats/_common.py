"""What every format reader shares: the result type, limits and checked geometry building."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
import shapely.errors
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.classes import Colour
from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.model import Annotation


@dataclass(frozen=True)
class Limits:
    """Refuse files that would exhaust memory; generous for real slides."""

    max_file_bytes: int = 4 << 30
    max_vertices_per_geometry: int = 5_000_000
    max_objects: int = 20_000_000


DEFAULT_LIMITS = Limits()


@dataclass
class AnnotationFile:
    """What a reader found: the objects, the class colours it names and its pixel size."""

    annotations: list[Annotation]
    format: str
    class_colours: dict[str, Colour] = field(default_factory=dict)
    mpp: float | None = None
    notes: list[str] = field(default_factory=list)  # losses a user should know about
    repaired: int = 0  # invalid polygons a reader already repaired (counted in one note)


def check_file_size(path: Path, limits: Limits) -> int:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise AnnotationFormatError(path, f"cannot read the file ({error.strerror})") from None
    if size > limits.max_file_bytes:
        raise AnnotationFormatError(
            path, f"file is {size:,} bytes, more than the limit of {limits.max_file_bytes:,}"
        )
    return size


def coords_array(path: Path, where: str, coords: object, limits: Limits) -> np.ndarray:
    """An ``(n, 2)`` float array of finite coordinates, or a clear error naming `where`."""
    if isinstance(coords, list) and len(coords) > limits.max_vertices_per_geometry:
        raise AnnotationFormatError(
            path,
            f"{where}: {len(coords):,} vertices, more than the limit of "
            f"{limits.max_vertices_per_geometry:,}",
        )
    try:
        array = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError):
        raise AnnotationFormatError(path, f"{where}: coordinates are not numbers") from None
    except OverflowError:
        raise AnnotationFormatError(
            path, f"{where}: a coordinate is too large to be a slide position"
        ) from None
    if array.ndim != 2 or array.shape[1] < 2 or len(array) == 0:
        raise AnnotationFormatError(path, f"{where}: expected a list of [x, y] positions")
    array = array[:, :2]
    if not np.isfinite(array).all():
        raise AnnotationFormatError(path, f"{where}: coordinates must be finite (found NaN/inf)")
    return array


def ring(path: Path, where: str, coords: object, limits: Limits) -> np.ndarray:
    array = coords_array(path, where, coords, limits)
    if len(array) < 3:
        raise AnnotationFormatError(path, f"{where}: a polygon ring needs at least 3 vertices")
    if not np.array_equal(array[0], array[-1]):
        array = np.vstack([array, array[:1]])
    if len(array) < 4:
        raise AnnotationFormatError(path, f"{where}: a polygon ring needs at least 3 vertices")
    return array


def polygon(path: Path, where: str, rings: object, limits: Limits) -> BaseGeometry:
    if not isinstance(rings, list) or not rings:
        raise AnnotationFormatError(path, f"{where}: a polygon needs at least one ring")
    arrays = [ring(path, f"{where} ring {i}", r, limits) for i, r in enumerate(rings)]
    try:
        return shapely.Polygon(arrays[0], arrays[1:])
    except (shapely.errors.GEOSException, ValueError) as error:
        raise AnnotationFormatError(path, f"{where}: not a polygon ({error})") from None


def ellipse(x0: float, y0: float, x1: float, y1: float, segments: int = 72) -> BaseGeometry:
    """The polygon of the ellipse inscribed in a box (its shape_type stays ELLIPSE)."""
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
    t = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    return shapely.Polygon(np.column_stack([cx + rx * np.cos(t), cy + ry * np.sin(t)]))
