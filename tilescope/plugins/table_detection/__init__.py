"""Table detection on document pages: PicoDet layout model + ruled-table cell grids.

`detect_tables(image)` is the direct entry; `PicoDetLayoutType` the registered model type
(`picodet-layout`) behind the bundled model `table-detection`.
"""

from tilescope.plugins.table_detection.api import detect_tables, layout_model
from tilescope.plugins.table_detection.export import to_csv, to_html
from tilescope.plugins.table_detection.results import grid_from_cells
from tilescope.plugins.table_detection.structure import TableCell, TableStructure, table_structure

__all__ = [
    "TableCell",
    "TableStructure",
    "detect_tables",
    "grid_from_cells",
    "layout_model",
    "table_structure",
    "to_csv",
    "to_html",
]
