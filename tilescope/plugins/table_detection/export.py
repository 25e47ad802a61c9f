"""Tables as CSV or HTML grid skeletons (cell text, when known, comes from elsewhere)."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from tilescope.engine.annotations.model import Annotation
from tilescope.plugins.table_detection.structure import TableStructure

#: Optional cell text keyed by (row, col) of the cell's top-left grid position.
CellText = Mapping[tuple[int, int], str]


def to_rows(structure: TableStructure, text: CellText | None = None) -> list[list[str]]:
    """The grid as rows of strings; a merged cell's text sits in its top-left grid slot."""
    grid = [["" for _ in range(structure.n_cols)] for _ in range(structure.n_rows)]
    for cell in structure.cells:
        grid[cell.row][cell.col] = (text or {}).get((cell.row, cell.col), "")
    return grid


def to_csv(structure: TableStructure, text: CellText | None = None) -> str:
    """CSV text with one record per grid row (RFC 4180 quoting, \\n line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(to_rows(structure, text))
    return buffer.getvalue()


def to_html(structure: TableStructure, text: CellText | None = None) -> str:
    """An HTML <table> with rowspan/colspan for merged cells; text is escaped."""
    by_row: dict[int, list[str]] = {}
    for cell in sorted(structure.cells, key=lambda c: (c.row, c.col)):
        spans = ""
        if cell.row_span > 1:
            spans += f' rowspan="{cell.row_span}"'
        if cell.col_span > 1:
            spans += f' colspan="{cell.col_span}"'
        content = html.escape((text or {}).get((cell.row, cell.col), ""))
        by_row.setdefault(cell.row, []).append(f"<td{spans}>{content}</td>")
    lines = ["<table>"]
    for row in range(structure.n_rows):
        lines.append("  <tr>" + "".join(by_row.get(row, [])) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines) + "\n"


def write_table_files(annotations: Sequence[Annotation], folder: Path, stem: str) -> list[Path]:
    """`<stem>.table-<n>.csv` and `.html` for every table with cells among `annotations`.

    Tables and their cells are matched by the table number in their `table` property, so
    annotations read back from a store or a GeoJSON file work as well as fresh ones.
    """
    from tilescope.plugins.table_detection.results import CELL_CLASS, grid_from_cells

    cells: dict[int, list[Annotation]] = {}
    for annotation in annotations:
        number = annotation.properties.get("table")
        if annotation.class_name == CELL_CLASS and isinstance(number, int):
            cells.setdefault(number, []).append(annotation)
    written: list[Path] = []
    folder.mkdir(parents=True, exist_ok=True)
    for number in sorted(cells):
        grid = grid_from_cells(cells[number])
        for suffix, text in ((".csv", to_csv(grid)), (".html", to_html(grid))):
            path = folder / f"{stem}.table-{number}{suffix}"
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
