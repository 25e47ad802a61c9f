"""Colour maps for probability heat maps as 256-entry RGBA lookup tables (numpy, no matplotlib).

Each map is a piecewise-linear ramp through a few anchor colours of the well-known perceptual
maps; 8-bit probabilities index the table directly, so colouring a viewport is one take().
"""

from __future__ import annotations

import numpy as np

from tilescope.engine.colour import parse_hex

_ANCHORS: dict[str, tuple[str, ...]] = {
    "viridis": ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"),
    "magma": ("#000004", "#3b0f70", "#8c2981", "#de4968", "#fe9f6d", "#fcfdbf"),
    "inferno": ("#000004", "#420a68", "#932667", "#dd513a", "#fca50a", "#fcffa4"),
    "grey": ("#000000", "#ffffff"),
}
COLOUR_MAPS: tuple[str, ...] = tuple(_ANCHORS)

#: Probabilities (0-255) below this fade to transparent, so background shows the slide.
FADE_BELOW = 24


def lookup_table(name: str) -> np.ndarray:
    """256 x 4 uint8 RGBA: colour from the map, alpha fading in over the lowest values."""
    if name not in _ANCHORS:
        raise ValueError(f"unknown colour map {name!r} (known: {', '.join(COLOUR_MAPS)})")
    anchors = np.array([parse_hex(c) for c in _ANCHORS[name]], dtype=np.float64)
    stops = np.linspace(0.0, 1.0, len(anchors))
    positions = np.linspace(0.0, 1.0, 256)
    table = np.empty((256, 4), dtype=np.uint8)
    for channel in range(3):
        table[:, channel] = np.rint(np.interp(positions, stops, anchors[:, channel]))
    alpha = np.clip(np.arange(256) / FADE_BELOW, 0.0, 1.0) * 255
    table[:, 3] = np.rint(alpha).astype(np.uint8)
    return table


def colourise(probabilities: np.ndarray, name: str = "viridis") -> np.ndarray:
    """H x W uint8 probabilities -> H x W x 4 RGBA uint8 (C-contiguous)."""
    return np.ascontiguousarray(lookup_table(name)[probabilities])
