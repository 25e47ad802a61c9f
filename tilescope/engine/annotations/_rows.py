"""Turning annotations into store rows and back (WKB geometry, JSON properties)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import shapely

from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType

SQL_VARS = 500  # ids per IN (...) list, well under SQLite's variable limit
_KIND_VALUES: dict[str, str] = {k.value: k.value for k in ObjectKind}
_SHAPE_VALUES: dict[str, str] = {k.value: k.value for k in ShapeType}


def kind_value(a: Annotation) -> str:
    try:
        return _KIND_VALUES[a.kind]
    except KeyError:
        raise ValueError(f"annotation {a.id}: unknown kind {a.kind!r}") from None


def shape_value(a: Annotation) -> str:
    try:
        return _SHAPE_VALUES[a.shape_type]
    except KeyError:
        raise ValueError(f"annotation {a.id}: unknown shape type {a.shape_type!r}") from None


def checked_bounds(ids: Sequence[str], geoms: np.ndarray) -> np.ndarray:
    """Bounding boxes ``(n, 4)``; refuses missing, empty and non-finite geometries."""
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        raise ValueError(f"annotation {ids[int(np.flatnonzero(bad)[0])]}: geometry is empty")
    bounds = shapely.bounds(geoms)
    finite = np.isfinite(bounds).all(axis=1)
    if not finite.all():
        first = ids[int(np.flatnonzero(~finite)[0])]
        raise ValueError(f"annotation {first}: coordinates must be finite numbers")
    return bounds


def new_ids(n: int) -> list[str]:
    """`n` random (version 4) UUID strings, faster than calling uuid.uuid4() n times."""
    raw = bytearray(os.urandom(16 * n))
    out = []
    for i in range(0, 16 * n, 16):
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80
        h = raw[i : i + 16].hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def json_or_none(value: dict[str, Any], what: str, id_: str) -> str | None:
    if not value:
        return None
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise ValueError(f"annotation {id_}: {what} are not JSON-serialisable: {error}") from None


ROW_COLUMNS = (
    "rid, id, kind, shape_type, class_name, name, score, run_id, geometry, properties, measurements"
)
_KINDS = {k.value: k for k in ObjectKind}
_SHAPES = {s.value: s for s in ShapeType}


def decode_rows(rows: Sequence[tuple[Any, ...]]) -> list[Annotation]:
    """Annotations from rows selected with ROW_COLUMNS (geometry decoded in one batch)."""
    if not rows:
        return []
    geoms = shapely.from_wkb([r[8] for r in rows])
    return [
        Annotation(
            geometry=geom,
            shape_type=_SHAPES[r[3]],
            class_name=r[4],
            kind=_KINDS[r[2]],
            name=r[5],
            score=r[6],
            properties=json.loads(r[9]) if r[9] else {},
            measurements=json.loads(r[10]) if r[10] else {},
            run_id=r[7],
            id=r[1],
        )
        for r, geom in zip(rows, geoms, strict=True)
    ]


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
