"""Cell grid of a ruled table from its ruling lines (no model).

The table crop is binarised, horizontal and vertical rulings are kept by a morphological
opening with long line-shaped structuring elements (text strokes are too short to survive),
rulings at the same height/position are grouped into separators, and the separators give a
grid. Where a grid border between two neighbouring cells is not drawn, the cells are one
merged (spanning) cell. A table without rulings in both directions has no grid: the result is
None, and callers keep the table box alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu, threshold_sauvola

Binarisation = Literal["otsu", "sauvola"]


@dataclass(frozen=True, slots=True)
class TableCell:
    """One cell in crop pixels; a merged cell spans several grid rows or columns."""

    row: int
    col: int
    row_span: int
    col_span: int
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True, slots=True)
class TableStructure:
    """Grid edges (separator centres, ascending) and the cells between them."""

    row_edges: tuple[float, ...]
    col_edges: tuple[float, ...]
    cells: tuple[TableCell, ...]

    @property
    def n_rows(self) -> int:
        return len(self.row_edges) - 1

    @property
    def n_cols(self) -> int:
        return len(self.col_edges) - 1

    def transformed(self, dx: float, dy: float, scale: float = 1.0) -> TableStructure:
        """The same grid in another frame: p' = p * scale + offset (crop -> page pixels)."""

        def cell(c: TableCell) -> TableCell:
            return TableCell(
                c.row,
                c.col,
                c.row_span,
                c.col_span,
                c.x0 * scale + dx,
                c.y0 * scale + dy,
                c.x1 * scale + dx,
                c.y1 * scale + dy,
            )

        return TableStructure(
            tuple(y * scale + dy for y in self.row_edges),
            tuple(x * scale + dx for x in self.col_edges),
            tuple(cell(c) for c in self.cells),
        )


@dataclass(slots=True)
class _Separator:
    """Rulings at one position; `spans` are the covered intervals along the line."""

    position: float
    spans: list[tuple[float, float]] = field(default_factory=list)
    thickness: float = 1.0  # of its thickest ruling, px

    def coverage(self, start: float, end: float) -> float:
        """Share of [start, end] covered by this separator's rulings."""
        if end <= start:
            return 0.0
        covered = sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.spans)
        return covered / (end - start)


def ink_mask(crop: np.ndarray, method: Binarisation = "otsu") -> np.ndarray | None:
    """Dark-on-light ink as a boolean mask, or None for a blank crop."""
    gray = _gray(crop)
    if gray.size == 0 or float(gray.max() - gray.min()) < 0.08:
        return None
    if method == "sauvola":
        window = max(15, (min(gray.shape) // 20) | 1)
        result: np.ndarray = gray < threshold_sauvola(gray, window_size=window)
        return result
    return np.asarray(gray < threshold_otsu(gray))


def _gray(crop: np.ndarray) -> np.ndarray:
    pixels = np.asarray(crop, dtype=np.float64)
    if pixels.ndim == 3:
        pixels = pixels[:, :, :3].mean(axis=2) if pixels.shape[2] >= 3 else pixels[:, :, 0]
    top = 255.0 if pixels.max() > 1.0 else 1.0
    return pixels / top


def line_mask(ink: np.ndarray, length: int, axis: int) -> np.ndarray:
    """Ink belonging to straight runs of at least `length` px along `axis` (1 = horizontal).

    An opening with a 1 x length line; 1-D min/max filters make it linear in the line length.
    A short closing first bridges the 1-2 px gaps that scanning and JPEG leave in rulings.
    """
    length = max(3, int(length) | 1)
    mask = ink.astype(np.uint8)
    mask = ndimage.minimum_filter1d(ndimage.maximum_filter1d(mask, 3, axis=axis), 3, axis=axis)
    opened = ndimage.maximum_filter1d(
        ndimage.minimum_filter1d(mask, length, axis=axis), length, axis=axis
    )
    return opened.astype(bool)


def _crossing_labels(mask: np.ndarray, reach: int = 2) -> np.ndarray:
    """Connected rulings of one direction, labelled and grown by `reach` px to meet the others."""
    labels, _count = ndimage.label(mask, structure=np.ones((3, 3)))
    return ndimage.maximum_filter(labels, size=2 * reach + 1)


def _separators(
    mask: np.ndarray, axis: int, crossing: np.ndarray, max_thickness: int
) -> list[_Separator]:
    """Group the rulings of a line mask into separators at distinct positions.

    A ruling must meet at least two rulings of the other direction (its ends at the borders,
    or the lines it crosses): runs of text that survive the opening at low resolution meet
    none or one. Rulings closer than a few line widths (double rules, a line broken into
    staircase steps) form one separator.
    """
    labels, _count = ndimage.label(mask, structure=np.ones((3, 3)))
    segments: list[tuple[float, float, float, float]] = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        along = box[1] if axis == 1 else box[0]
        pixels = labels[box] == index
        # Mean thickness, not the bounding box: a ruling of a slightly skewed scan is a thin
        # staircase whose box is tall.
        thickness = float(pixels.sum()) / (along.stop - along.start)
        if thickness > max_thickness:
            continue  # a filled block, not a ruling
        if np.count_nonzero(np.unique(crossing[box][pixels])) < 2:
            continue
        across_coords = np.nonzero(pixels)[0 if axis == 1 else 1]
        across_start = box[0].start if axis == 1 else box[1].start
        position = float(across_coords.mean()) + across_start
        segments.append((position, float(along.start), float(along.stop), thickness))
    segments.sort()
    separators: list[_Separator] = []
    weights: list[float] = []
    for position, start, end, thickness in segments:
        last = separators[-1] if separators else None
        if last is not None and position - last.position <= 3 * max(
            thickness, last.thickness, 4 / 3
        ):
            weight = weights[-1]
            last.position = (last.position * weight + position * (end - start)) / (
                weight + end - start
            )
            weights[-1] = weight + end - start
            last.spans.append((start, end))
            last.thickness = max(last.thickness, thickness)
        else:
            separators.append(_Separator(position, [(start, end)], thickness))
            weights.append(end - start)
    return separators


def _edges(own: list[_Separator], other: list[_Separator], tolerance: float) -> list[float]:
    """Grid edges along one axis: own separators, plus where the other axis's rulings end.

    A table drawn without an outer border still has its outermost cells bounded by the ends
    of the crossing rulings.
    """
    edges = [s.position for s in own]
    ends = [p for s in other for a, b in s.spans for p in (a, b - 1)]
    for extreme in (min(ends, default=None), max(ends, default=None)):
        if extreme is not None and all(abs(extreme - e) > tolerance for e in edges):
            edges.append(float(extreme))
    return sorted(edges)


def _separator_at(
    separators: Sequence[_Separator], position: float, tolerance: float
) -> _Separator | None:
    near = [s for s in separators if abs(s.position - position) <= tolerance]
    return min(near, key=lambda s: abs(s.position - position)) if near else None


def table_structure(
    crop: np.ndarray,
    *,
    binarisation: Binarisation = "otsu",
    line_fraction: float = 1 / 15,
    min_line_length: int = 10,
    border_coverage: float = 0.5,
) -> TableStructure | None:
    """The cell grid of a ruled table crop (H x W or H x W x C), or None without rulings.

    Rulings are kept when at least `line_fraction` of the crop's width (horizontal) or height
    (vertical) long; a grid border counts as drawn when rulings cover `border_coverage` of it.
    """
    ink = ink_mask(crop, binarisation)
    if ink is None:
        return None
    height, width = ink.shape
    # Thicker than this is a filled block (shaded header, logo), not a ruling.
    max_thickness = max(6, round(min(height, width) * 0.015))
    h_mask = line_mask(ink, max(min_line_length, round(width * line_fraction)), axis=1)
    v_mask = line_mask(ink, max(min_line_length, round(height * line_fraction)), axis=0)
    horizontal = _separators(h_mask, 1, _crossing_labels(v_mask), max_thickness)
    vertical = _separators(v_mask, 0, _crossing_labels(h_mask), max_thickness)
    if not horizontal or not vertical:
        return None
    # How far a line end or a border may sit from a separator and still meet it.
    merge = max(4.0, 2.0 * float(np.median([s.thickness for s in horizontal + vertical])))
    rows = _edges(horizontal, vertical, merge)
    cols = _edges(vertical, horizontal, merge)
    if len(rows) < 2 or len(cols) < 2:
        return None
    cells = _merged_cells(rows, cols, horizontal, vertical, merge, border_coverage)
    return TableStructure(tuple(rows), tuple(cols), tuple(cells))


def _merged_cells(
    rows: list[float],
    cols: list[float],
    horizontal: list[_Separator],
    vertical: list[_Separator],
    tolerance: float,
    coverage: float,
) -> list[TableCell]:
    """Join grid cells whose shared border is not drawn; one cell per rectangular group."""
    n_rows, n_cols = len(rows) - 1, len(cols) - 1
    parent = list(range(n_rows * n_cols))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    def drawn(separator: _Separator | None, start: float, end: float) -> bool:
        inset = min(tolerance, (end - start) / 4)  # ignore the corners where lines cross
        return separator is not None and separator.coverage(start + inset, end - inset) >= coverage

    for c in range(1, n_cols):
        sep = _separator_at(vertical, cols[c], tolerance)
        for r in range(n_rows):
            if not drawn(sep, rows[r], rows[r + 1]):
                join(r * n_cols + c - 1, r * n_cols + c)
    for r in range(1, n_rows):
        sep = _separator_at(horizontal, rows[r], tolerance)
        for c in range(n_cols):
            if not drawn(sep, cols[c], cols[c + 1]):
                join((r - 1) * n_cols + c, r * n_cols + c)

    groups: dict[int, list[int]] = {}
    for i in range(n_rows * n_cols):
        groups.setdefault(find(i), []).append(i)
    cells: list[TableCell] = []
    for members in groups.values():
        rs = [m // n_cols for m in members]
        cs = [m % n_cols for m in members]
        r0, r1, c0, c1 = min(rs), max(rs) + 1, min(cs), max(cs) + 1
        if len(members) == (r1 - r0) * (c1 - c0):
            cells.append(
                TableCell(r0, c0, r1 - r0, c1 - c0, cols[c0], rows[r0], cols[c1], rows[r1])
            )
        else:  # an irregular region: keep its grid cells rather than overlapping rectangles
            cells.extend(
                TableCell(r, c, 1, 1, cols[c], rows[r], cols[c + 1], rows[r + 1])
                for r, c in zip(rs, cs, strict=True)
            )
    cells.sort(key=lambda cell: (cell.row, cell.col))
    return cells
