"""CSV and HTML skeletons of a table grid."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

from tilescope.plugins.table_detection.export import to_csv, to_html, to_rows
from tilescope.plugins.table_detection.structure import TableCell, TableStructure


def grid_with_spans() -> TableStructure:
    """3 x 3 grid: header spanning 2 columns, a cell spanning 2 rows."""
    rows, cols = (0.0, 10.0, 20.0, 30.0), (0.0, 5.0, 10.0, 15.0)

    def cell(r: int, c: int, rs: int = 1, cs: int = 1) -> TableCell:
        return TableCell(r, c, rs, cs, cols[c], rows[r], cols[c + cs], rows[r + rs])

    cells = [
        cell(0, 0, cs=2), cell(0, 2),
        cell(1, 0, rs=2), cell(1, 1), cell(1, 2),
        cell(2, 1), cell(2, 2),
    ]  # fmt: skip
    return TableStructure(rows, cols, tuple(cells))


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[dict[str, str | None], str]]] = []
        self._attrs: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._attrs = dict(attrs)
            self.rows[-1].append((self._attrs, ""))

    def handle_data(self, data: str) -> None:
        if self._attrs is not None and self.rows and self.rows[-1]:
            attrs, text = self.rows[-1][-1]
            self.rows[-1][-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._attrs = None


def test_csv_has_one_record_per_grid_row_with_text_in_top_left_slot() -> None:
    grid = grid_with_spans()
    text = {(0, 0): 'Name, "quoted"', (1, 0): "merged", (2, 2): "x"}
    records = list(csv.reader(io.StringIO(to_csv(grid, text))))
    assert records == [['Name, "quoted"', "", ""], ["merged", "", ""], ["", "", "x"]]
    assert to_rows(grid) == [[""] * 3] * 3


def test_html_has_spans_and_escapes_text() -> None:
    grid = grid_with_spans()
    parser = _Cells()
    parser.feed(to_html(grid, {(0, 0): "<b>&", (1, 1): "a"}))
    assert [len(r) for r in parser.rows] == [2, 3, 2]
    first_attrs, first_text = parser.rows[0][0]
    assert first_attrs == {"colspan": "2"} and first_text == "<b>&"
    assert parser.rows[1][0][0] == {"rowspan": "2"}
    assert parser.rows[1][1][1] == "a"
    assert "&lt;b&gt;&amp;" in to_html(grid, {(0, 0): "<b>&"})
