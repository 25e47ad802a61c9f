"""Layout boxes and table cells as `Annotation` rectangles in page pixels."""

from __future__ import annotations

import numpy as np
from shapely.geometry import box as rectangle

from tilescope.engine.annotations.model import Annotation, ObjectKind, ShapeType
from tilescope.plugins.table_detection.export import to_html
from tilescope.plugins.table_detection.structure import (
    Binarisation,
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


def cell_annotations(grid: TableStructure, table: Annotation) -> list[Annotation]:
    """Cells of a table's grid as rectangles; properties give grid position and spans."""
    return [
        Annotation(
            geometry=rectangle(c.x0, c.y0, c.x1, c.y1),
            shape_type=ShapeType.RECTANGLE,
            class_name=CELL_CLASS,
            kind=ObjectKind.DETECTION,
            properties={
                "table_id": table.id,
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
