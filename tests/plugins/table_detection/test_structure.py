"""Ruled-table cell grids on synthetic tables drawn with numpy and on a real table crop."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_file
from tilescope.plugins.table_detection.export import to_csv, to_html
from tilescope.plugins.table_detection.structure import table_structure

ROWS_Y = [20, 80, 140, 200, 260]
COLS_X = [30, 150, 300, 470]


def ruled_table(seed: int = 0, thickness: int = 2) -> np.ndarray:
    """A 4 x 3 ruled table with short text-like strokes inside the cells."""
    image = np.full((300, 500), 255, np.uint8)
    for y in ROWS_Y:
        image[y : y + thickness, COLS_X[0] : COLS_X[-1] + thickness] = 0
    for x in COLS_X:
        image[ROWS_Y[0] : ROWS_Y[-1] + thickness, x : x + thickness] = 0
    rng = np.random.default_rng(seed)
    for _ in range(300):  # "glyphs": short strokes in both directions
        y, x = int(rng.integers(26, 250)), int(rng.integers(36, 460))
        if rng.random() < 0.5:
            image[y : y + 8, x : x + 2] = 20
        else:
            image[y : y + 2, x : x + 9] = 20
    return image


def test_grid_of_a_ruled_table() -> None:
    grid = table_structure(ruled_table())
    assert grid is not None
    assert (grid.n_rows, grid.n_cols) == (4, 3)
    assert grid.row_edges == pytest.approx([y + 0.5 for y in ROWS_Y])
    assert grid.col_edges == pytest.approx([x + 0.5 for x in COLS_X])
    assert len(grid.cells) == 12
    assert all(c.row_span == 1 and c.col_span == 1 for c in grid.cells)
    third = next(c for c in grid.cells if (c.row, c.col) == (2, 1))
    assert (third.x0, third.y0, third.x1, third.y1) == pytest.approx((150.5, 140.5, 300.5, 200.5))


def test_rgb_and_sauvola_give_the_same_grid() -> None:
    gray = ruled_table(seed=3)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    a = table_structure(rgb)
    b = table_structure(gray, binarisation="sauvola")
    assert a is not None and b is not None
    assert a.row_edges == pytest.approx(b.row_edges, abs=1)
    assert a.col_edges == pytest.approx(b.col_edges, abs=1)


def test_missing_borders_make_spanning_cells() -> None:
    image = ruled_table(seed=1)
    image[ROWS_Y[0] + 4 : ROWS_Y[1] - 2, COLS_X[1] : COLS_X[1] + 2] = 255  # header: cols 0+1
    image[ROWS_Y[2] : ROWS_Y[2] + 2, COLS_X[2] + 4 : COLS_X[3] - 2] = 255  # col 2: rows 1+2
    grid = table_structure(image)
    assert grid is not None
    assert (grid.n_rows, grid.n_cols) == (4, 3)
    spans = {(c.row, c.col): (c.row_span, c.col_span) for c in grid.cells}
    assert spans[(0, 0)] == (1, 2)
    assert spans[(1, 2)] == (2, 1)
    assert (0, 1) not in spans and (2, 2) not in spans  # covered by the merged cells
    assert len(grid.cells) == 10
    html = to_html(grid)
    assert '<td colspan="2"></td>' in html and '<td rowspan="2"></td>' in html


def test_table_without_outer_border() -> None:
    """A '#'-shaped grid: the outer cells end where the crossing rulings end."""
    image = np.full((210, 300), 255, np.uint8)
    for y in (70, 140):
        image[y : y + 2, 10:290] = 0
    for x in (100, 200):
        image[10:200, x : x + 2] = 0
    grid = table_structure(image)
    assert grid is not None
    assert (grid.n_rows, grid.n_cols) == (3, 3)
    assert grid.row_edges == pytest.approx([10, 70.5, 140.5, 199], abs=1)
    assert grid.col_edges == pytest.approx([10, 100.5, 200.5, 289], abs=1)
    assert len(grid.cells) == 9


@pytest.mark.parametrize("kind", ["blank", "text only", "horizontal rules only"])
def test_no_grid_without_rulings(kind: str) -> None:
    image = np.full((200, 300), 255, np.uint8)
    if kind != "blank":
        rng = np.random.default_rng(2)
        for _ in range(200):
            y, x = int(rng.integers(5, 190)), int(rng.integers(5, 285))
            image[y : y + 7, x : x + 2] = 0
    if kind == "horizontal rules only":  # a booktabs table: no vertical rulings at all
        for y in (10, 40, 190):
            image[y : y + 2, 5:295] = 0
    assert table_structure(image) is None


def test_real_table_crop_with_drawn_column_rules() -> None:
    """A real PubLayNet table (3 printed rules) with column rules drawn in its whitespace."""
    page = np.asarray(
        Image.open(shared_file("documents", "publaynet", "PMC4760359_00006.jpg")).convert("L")
    )
    crop = page[75:435, 53:555].copy()  # the ground-truth box with a 3 px margin
    assert table_structure(crop) is None  # printed without vertical rules: no grid
    columns = [3, 68, 140, 205, 262, 390, 499]
    for x in columns:
        crop[2:357, x] = 0
    grid = table_structure(crop)
    assert grid is not None
    assert (grid.n_rows, grid.n_cols) == (2, 6)  # header row + body between the 3 rules
    assert grid.col_edges == pytest.approx(columns, abs=1.5)
    assert grid.row_edges == pytest.approx([2, 30, 356], abs=2)
    assert len(grid.cells) == 12
    assert to_csv(grid).splitlines() == [",,,,,"] * 2


def test_slightly_skewed_scan() -> None:
    """A 0.4 degree skew: rulings become staircases, the grid must stay 4 x 3."""
    from skimage.transform import rotate

    image = ruled_table(seed=5)
    skewed = (rotate(image / 255.0, 0.4, resize=False, cval=1.0, order=1) * 255).astype(np.uint8)
    grid = table_structure(skewed)
    assert grid is not None
    assert (grid.n_rows, grid.n_cols) == (4, 3)
    assert grid.row_edges == pytest.approx([y + 0.5 for y in ROWS_Y], abs=3)
    assert grid.col_edges == pytest.approx([x + 0.5 for x in COLS_X], abs=3)
    assert len(grid.cells) == 12


def test_large_dense_grid_with_thick_and_double_rules() -> None:
    """A high-resolution scan: 3 px rules 50 px apart, a double rule under the header."""
    image = np.full((1500, 2000), 255, np.uint8)
    rows = list(range(40, 1450, 50))  # 29 rules -> 28 rows
    cols = list(range(40, 1950, 190))  # 11 rules -> 10 columns
    for y in rows:
        image[y : y + 3, rows[0] : cols[-1] + 3] = 0
    image[rows[1] + 6 : rows[1] + 8, cols[0] : cols[-1] + 3] = 0  # second line of a double rule
    for x in cols:
        image[rows[0] : rows[-1] + 3, x : x + 3] = 0
    rng = np.random.default_rng(4)
    for _ in range(6000):
        y, x = int(rng.integers(0, 1480)), int(rng.integers(0, 1990))
        image[y : y + 12, x : x + 2] = 30
    grid = table_structure(image)
    assert grid is not None
    assert (grid.n_rows, grid.n_cols) == (28, 10)
    assert len(grid.cells) == 280
    assert grid.col_edges == pytest.approx([x + 1 for x in cols], abs=1)
