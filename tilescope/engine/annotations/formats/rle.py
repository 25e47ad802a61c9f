"""COCO run-length encoding, written from the format's description (no pycocotools needed).

A COCO mask is read in column-major order (down each column, then the next column); its RLE is
the alternating lengths of runs of 0s and 1s, starting with 0s. The compressed string form
stores each count (after the third, as the difference to the count two before) in 5-bit groups,
least significant first, offset by 48 into printable ASCII, 0x20 marking "more groups follow".

Polygons are rasterised by scanlines straight into runs (pixel (r, c) is inside when its centre
(c + 0.5, r + 0.5) is, the rule label masks use): no image-sized array, so a tumour region
of a whole slide costs memory in proportion to its outline, not its area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class Runs:
    """Foreground runs ``[start, end)`` of flat column-major indices in an ``height x width``
    image, sorted and disjoint."""

    height: int
    width: int
    starts: np.ndarray
    ends: np.ndarray

    @property
    def area(self) -> int:
        return int((self.ends - self.starts).sum())

    def bbox(self) -> list[float]:
        """``[x, y, width, height]`` of the foreground, as pycocotools' ``toBbox`` gives it."""
        if not len(self.starts):
            return [0.0, 0.0, 0.0, 0.0]
        h = self.height
        first_col, last_col = self.starts // h, (self.ends - 1) // h
        spans_columns = first_col != last_col
        top = np.where(spans_columns, 0, self.starts % h)
        bottom = np.where(spans_columns, h, (self.ends - 1) % h + 1)
        x0, x1 = int(first_col.min()), int(last_col.max()) + 1
        y0, y1 = int(top.min()), int(bottom.max())
        return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]

    def counts(self) -> list[int]:
        """Uncompressed COCO counts (0-runs first)."""
        total = self.height * self.width
        if not len(self.starts):
            return [total]
        zeros = self.starts - np.concatenate([[0], self.ends[:-1]])
        ones = self.ends - self.starts
        counts = np.empty(2 * len(ones), dtype=np.int64)
        counts[0::2], counts[1::2] = zeros, ones
        tail = total - int(self.ends[-1])
        out = counts.tolist()
        if tail:
            out.append(tail)
        return out

    def to_coco(self) -> dict[str, object]:
        """The compressed RLE object COCO stores as ``segmentation``."""
        return {"size": [self.height, self.width], "counts": compress(self.counts())}


def compress(counts: list[int]) -> str:
    """COCO's compressed string form of uncompressed counts."""
    out: list[str] = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: negative differences end at -1
            more = (x != -1) if c & 0x10 else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def decompress(text: str) -> list[int]:
    """Uncompressed counts of a compressed COCO string (for tests and readers)."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x = k = 0
        more = True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def runs_of_mask(mask: np.ndarray) -> Runs:
    """The runs of a dense boolean ``(height, width)`` mask."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F").astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [0]])))
    return Runs(mask.shape[0], mask.shape[1], edges[0::2], edges[1::2])


def _edges(geometry: BaseGeometry) -> np.ndarray:
    """Every ring segment of an area geometry as rows ``x1, y1, x2, y2``."""
    parts = getattr(geometry, "geoms", [geometry])
    rings = [ring for p in parts for ring in (p.exterior, *p.interiors)]
    segments = []
    for ring in rings:
        xy = np.asarray(ring.coords, dtype=np.float64)[:, :2]
        segments.append(np.hstack([xy[:-1], xy[1:]]))
    return np.vstack(segments) if segments else np.empty((0, 4))


def runs_of_polygon(geometry: BaseGeometry, height: int, width: int) -> Runs:
    """Rasterise a valid (Multi)Polygon in image pixels to runs, by the pixel-centre rule."""
    empty = np.empty(0, dtype=np.int64)
    if geometry.is_empty or geometry.geom_type not in ("Polygon", "MultiPolygon"):
        return Runs(height, width, empty, empty)
    e = _edges(geometry)
    x1, y1, x2, y2 = e.T
    lo, hi = np.minimum(x1, x2), np.maximum(x1, x2)
    # Column c is crossed when its centre line x = c + 0.5 lies in [lo, hi) (half-open, so a
    # vertex on the line is counted once); vertical edges cross nothing.
    c0 = np.clip(np.ceil(lo - 0.5), 0, width).astype(np.int64)
    c1 = np.clip(np.ceil(hi - 0.5), 0, width).astype(np.int64)
    n = c1 - c0
    keep = n > 0
    if not keep.any():
        return Runs(height, width, empty, empty)
    x1, y1, x2, y2, c0, n = x1[keep], y1[keep], x2[keep], y2[keep], c0[keep], n[keep]
    edge = np.repeat(np.arange(len(n)), n)
    offsets = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    cols = c0[edge] + offsets
    xs = cols + 0.5
    ys = y1[edge] + (xs - x1[edge]) * (y2[edge] - y1[edge]) / (x2[edge] - x1[edge])
    order = np.lexsort((ys, cols))
    cols, ys = cols[order], ys[order]
    top = np.clip(np.ceil(ys[0::2] - 0.5), 0, height).astype(np.int64)
    bottom = np.clip(np.ceil(ys[1::2] - 0.5), 0, height).astype(np.int64)
    base = cols[0::2] * height
    starts, ends = base + top, base + bottom
    nonempty = ends > starts
    starts, ends = starts[nonempty], ends[nonempty]
    if len(starts) > 1:  # runs that touch (end of a column, top of the next) are one run
        joined = starts[1:] == ends[:-1]
        if joined.any():
            keep_start = np.concatenate([[True], ~joined])
            keep_end = np.concatenate([~joined, [True]])
            starts, ends = starts[keep_start], ends[keep_end]
    return Runs(height, width, starts, ends)
