"""Layout boxes and table cells as `Annotation` rectangles in page pixels."""

from __future__ import annotations

import numpy as np
from shapely.geometry import box as rectangle

from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.plugins.table_detection.export import to_html
from tilescope.plugins.table_detection.structure import (
    Binarisation,
    TableCell,
    TableStructure,
    table_structure,
)

TABLE_CLASS = "Table"
CELL_CLASS = "Cell"


def class_name(label: str) -> str:
    """Display class of a model label: 'figure_caption' -> 'Figure caption'."""
    return label.replace("_", " ").strip().capitalize()


def normalised_label(name: str) -> str:
    """Model label of a class name or label, any case: 'Figure caption' -> 'figure_caption'."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def box_annotation(box: np.ndarray, score: float, label: str) -> Annotation:
    """One layout box (x0, y0, x1, y1 in page pixels) as a detection rectangle."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return Annotation(
        geometry=rectangle(x0, y0, x1, y1),
        shape_type=ShapeType.RECTANGLE,
        class_name=class_name(label),
        kind=ObjectKind.DETECTION,
        score=float(score),
        properties={"layout_label": label},
    )


def table_grid(
    page: np.ndarray, table: Annotation, binarisation: Binarisation = "otsu"
) -> TableStructure | None:
    """The ruled cell grid of one table box of `page`, in page pixels (None without rulings).

    The crop is padded a little: a detected box often ends just inside the table's border.
    """
    x0, y0, x1, y1 = table.geometry.bounds
    pad = max(3.0, 0.01 * max(x1 - x0, y1 - y0))
    height, width = page.shape[:2]
    cx0, cy0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
    cx1, cy1 = min(width, int(np.ceil(x1 + pad))), min(height, int(np.ceil(y1 + pad)))
    if cx1 - cx0 < 8 or cy1 - cy0 < 8:
        return None
    grid = table_structure(page[cy0:cy1, cx0:cx1], binarisation=binarisation)
    return None if grid is None else grid.transformed(cx0, cy0)


def cell_annotations(grid: TableStructure, table: int) -> list[Annotation]:
    """Cells of a table's grid as rectangles; properties give the table number (its `table`
    property), the grid position and the spans."""
    return [
        Annotation(
            geometry=rectangle(c.x0, c.y0, c.x1, c.y1),
            shape_type=ShapeType.RECTANGLE,
            class_name=CELL_CLASS,
            kind=ObjectKind.DETECTION,
            properties={
                "table": table,
                "row": c.row,
                "col": c.col,
                "row_span": c.row_span,
                "col_span": c.col_span,
            },
        )
        for c in grid.cells
    ]


def with_grid(table: Annotation, grid: TableStructure | None) -> Annotation:
    """The table annotation with its grid size and HTML skeleton in its properties."""
    if grid is None:
        return table.evolve(properties={**table.properties, "structure": "no rulings"})
    return table.evolve(
        properties={
            **table.properties,
            "structure": "ruled",
            "rows": grid.n_rows,
            "cols": grid.n_cols,
            "html": to_html(grid),
        }
    )


def grid_from_cells(cells: list[Annotation]) -> TableStructure:
    """Rebuild a table's grid from its `Cell` annotations (e.g. read back from a store).

    Inverse of `cell_annotations`, so a table found earlier can be exported with
    `export.to_csv` / `export.to_html`. Raises ValueError for cells without grid positions.
    """
    try:
        parsed = [
            TableCell(
                int(a.properties["row"]),
                int(a.properties["col"]),
                int(a.properties["row_span"]),
                int(a.properties["col_span"]),
                *a.geometry.bounds,
            )
            for a in cells
        ]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"cell annotation without a grid position ({error})") from None
    if not parsed:
        raise ValueError("a table grid needs at least one cell")
    n_rows = max(c.row + c.row_span for c in parsed)
    n_cols = max(c.col + c.col_span for c in parsed)
    rows: dict[int, float] = {}
    cols: dict[int, float] = {}
    for c in parsed:
        rows.setdefault(c.row, c.y0)
        rows.setdefault(c.row + c.row_span, c.y1)
        cols.setdefault(c.col, c.x0)
        cols.setdefault(c.col + c.col_span, c.x1)
    if len(rows) != n_rows + 1 or len(cols) != n_cols + 1:
        raise ValueError("the cells do not cover every grid line")
    return TableStructure(
        tuple(rows[i] for i in range(n_rows + 1)),
        tuple(cols[i] for i in range(n_cols + 1)),
        tuple(sorted(parsed, key=lambda c: (c.row, c.col))),
    )
