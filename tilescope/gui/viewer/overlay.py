"""What a slide view draws over the image: any object with `paint`, `visible` and `opacity`.

Annotation and heat-map layers implement this protocol; the view calls `paint` once per frame
for each visible layer, in list order (last on top). A layer draws directly with QPainter, so a
million objects cost one spatial query and one draw pass, not a million widgets.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter


@runtime_checkable
class OverlayLayer(Protocol):
    """A layer drawn over the slide.

    `paint(painter, viewport, scale)`: the painter's transform maps level-0 pixels to the
    widget (draw in slide coordinates; use cosmetic pens for fixed-width lines); its opacity is
    already set to the layer's `opacity`. `viewport` is the visible level-0 rectangle (query
    only what intersects it); `scale` is widget pixels per level-0 pixel, for level-of-detail
    choices (e.g. draw centroids instead of outlines when a nucleus is under two pixels).
    """

    visible: bool
    opacity: float

    def paint(self, painter: QPainter, viewport: QRectF, scale: float) -> None: ...
