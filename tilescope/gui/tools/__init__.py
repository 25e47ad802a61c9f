"""Annotation tools, one handler class per file (QuPath's design), and their shortcuts.

Single-key shortcuts follow QuPath's defaults where QuPath has the tool: M move, R rectangle,
O ellipse, P polygon, B brush, "." points; S is QuPath's selection-mode key and selects here.
Tools QuPath lacks get the nearest free key: E edit vertices, Shift+P freehand (QuPath's
polygon tool also traces freehand when dragged, and so does ours), Shift+B eraser (QuPath
erases with Alt held on the brush, which works here too).
"""

from __future__ import annotations

from dataclasses import dataclass

from tilescope.gui.tools.base import AnnotationTool
from tilescope.gui.tools.brush import BrushTool
from tilescope.gui.tools.edit_vertices import EditVerticesTool
from tilescope.gui.tools.ellipse import EllipseTool
from tilescope.gui.tools.eraser import EraserTool
from tilescope.gui.tools.freehand import FreehandTool
from tilescope.gui.tools.move import MoveTool
from tilescope.gui.tools.point import PointTool
from tilescope.gui.tools.polygon import PolygonTool
from tilescope.gui.tools.rectangle import RectangleTool
from tilescope.gui.tools.select import SelectTool


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    label: str
    shortcut: str
    tip: str
    tool_class: type[AnnotationTool]


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "move", "Move", "M", "Pan; drag a selected object to move it; click selects", MoveTool
    ),
    ToolSpec("select", "Select", "S", "Click or drag a box to select; Shift adds", SelectTool),
    ToolSpec("edit", "Vertices", "E", "Drag a vertex of the selected object", EditVerticesTool),
    ToolSpec("point", "Points", ".", "Click to add points", PointTool),
    ToolSpec("rectangle", "Rectangle", "R", "Drag a rectangle; Shift for a square", RectangleTool),
    ToolSpec("ellipse", "Ellipse", "O", "Drag an ellipse; Shift for a circle", EllipseTool),
    ToolSpec(
        "polygon",
        "Polygon",
        "P",
        "Click vertices (or drag to trace); double-click or Enter closes",
        PolygonTool,
    ),
    ToolSpec("freehand", "Freehand", "Shift+P", "Drag around a region (lasso)", FreehandTool),
    ToolSpec(
        "brush",
        "Brush",
        "B",
        "Paint; adds to the selected annotation; Alt erases; [ ] size",
        BrushTool,
    ),
    ToolSpec("eraser", "Eraser", "Shift+B", "Erase from annotations; [ ] size", EraserTool),
)
TOOLS_BY_NAME = {spec.name: spec for spec in TOOLS}
DEFAULT_TOOL = "move"

__all__ = ["DEFAULT_TOOL", "TOOLS", "TOOLS_BY_NAME", "AnnotationTool", "ToolSpec"]
