"""Eraser tool (Shift+B): the brush that subtracts (shapely difference) from annotations."""

from __future__ import annotations

from tilescope.gui.tools.brush import BrushTool


class EraserTool(BrushTool):
    label = "Eraser"
    erases = True
