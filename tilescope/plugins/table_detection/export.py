"""Tables as CSV or HTML grid skeletons (cell text, when known, comes from elsewhere)."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping

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
