"""Every menu action of the main window, declared once with its shortcut."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from tilescope.gui.viewer.magnification import ZOOM_PRESETS


@dataclass
class Actions:
    open: QAction
    close_tab: QAction
    quit: QAction
    zoom_in: QAction
    zoom_out: QAction
    fit: QAction
    one_to_one: QAction
    magnifications: dict[float, QAction]
    associated_images: QAction
    show_minimap: QAction
    about: QAction


def create_actions(parent: QWidget) -> Actions:
    def action(
        text: str,
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        tip: str = "",
    ) -> QAction:
        result = QAction(text, parent)
        if shortcut is not None:
            result.setShortcut(QKeySequence(shortcut))
        if tip:
            result.setStatusTip(tip)
        return result

    minimap = action("Show &Minimap", None, "Show the overview in the corner of the view")
    minimap.setCheckable(True)
    minimap.setChecked(True)
    return Actions(
        open=action("&Open…", QKeySequence.StandardKey.Open, "Open slides or images"),
        close_tab=action("&Close", QKeySequence.StandardKey.Close, "Close the current slide"),
        quit=action("&Quit", QKeySequence.StandardKey.Quit),
        zoom_in=action("Zoom &In", QKeySequence.StandardKey.ZoomIn),
        zoom_out=action("Zoom &Out", QKeySequence.StandardKey.ZoomOut),
        fit=action("Zoom to &Fit", "Ctrl+0", "Show the whole slide"),
        one_to_one=action(
            "&1:1 (Device Pixels)", "Ctrl+1", "One slide pixel per screen (device) pixel"
        ),
        magnifications={
            mag: action(f"{mag:g}x", None, f"Objective-equivalent {mag:g}x") for mag in ZOOM_PRESETS
        },
        associated_images=action("&Associated Images…", "Ctrl+Shift+A", "Label, macro, thumbnail"),
        show_minimap=minimap,
        about=action("&About tilescope"),
    )
