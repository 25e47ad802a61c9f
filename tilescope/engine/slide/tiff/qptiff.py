"""PerkinElmer/Akoya QPTIFF: each page's ImageDescription is XML saying what the page is.

``<PerkinElmer-QPI-ImageDescription>`` holds ``ImageType`` (FullResolution, ReducedResolution,
Thumbnail, Overview, Label), the channel's ``Name`` and display ``Color`` ("r,g,b"), and on
scans a ``ScanProfile`` with the objective (``ObjectiveName``, ``Magnification``) and the pixel
size (``PixelSizeMicrons``). Pages are classified by their ImageType, so label and overview
pages are associated images, never channels or scenes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from defusedxml import ElementTree

from tilescope.engine.slide.mpp import parse_number, plausible_objective

#: ImageType -> the associated image name used for every format (OpenSlide's names).
ASSOCIATED_TYPES = {
    "thumbnail": "thumbnail",
    "overview": "macro",
    "macro": "macro",
    "label": "label",
}


@dataclass(frozen=True)
class QpiPage:
    """What one page's description says (every field optional)."""

    image_type: str | None = None  # lower case
    name: str | None = None
    colour: str | None = None  # "#rrggbb"
    objective_power: float | None = None
    mpp: float | None = None


def parse_qpi_description(description: str) -> QpiPage:
    """The fields of a QPI page description; an unreadable one gives an empty `QpiPage`."""
    try:
        root = ElementTree.fromstring(description.lstrip("\ufeff"))
    except Exception:  # a broken description must not stop the pixels from opening
        return QpiPage()
    image_type = _text(root, "ImageType")
    return QpiPage(
        image_type=image_type.lower() if image_type else None,
        name=_text(root, "Name") or _text(root, "Biomarker"),
        colour=_colour(_text(root, "Color")),
        objective_power=_objective(root),
        mpp=parse_number(_text(root, "ScanProfile/root/PixelSizeMicrons")),
    )


def qptiff_channel_name(description: str) -> str | None:
    """The ``<Name>`` of a QPI page description, or None when absent or unreadable."""
    return parse_qpi_description(description).name


def _text(root: Any, path: str) -> str | None:
    element = root.find(path)
    text = element.text.strip() if element is not None and element.text else ""
    return text or None


def _colour(text: str | None) -> str | None:
    """'255,0,128' (or with spaces/semicolons) -> '#ff0080'; anything else None."""
    if not text:
        return None
    parts = re.findall(r"\d+", text)
    if len(parts) != 3 or any(int(p) > 255 for p in parts):
        return None
    return "#" + "".join(f"{int(p):02x}" for p in parts)


def _objective(root: Any) -> float | None:
    """Magnification from ScanProfile (Magnification, then ObjectiveName like '20x')."""
    for path in ("ScanProfile/root/Magnification", "Magnification"):
        value = plausible_objective(parse_number(_text(root, path)))
        if value is not None:
            return value
    for path in ("ScanProfile/root/ObjectiveName", "Objective", "ObjectiveName"):
        text = _text(root, path)
        match = re.search(r"(\d+(?:\.\d+)?)\s*[xX×]", text or "")
        if match:
            value = plausible_objective(float(match.group(1)))
            if value is not None:
                return value
    return None
