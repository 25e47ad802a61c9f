"""Annotation classes: a name and a display colour, with QuPath's default colours.

Colours are ``(r, g, b)`` tuples of 0..255 everywhere in the engine; the helpers convert to and
from the packed forms that files use (QuPath's signed ARGB int, ``#RRGGBB``, Windows COLORREF).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Re-exported for the formats: the one #RRGGBB parser and writer live in engine.colour.
from tilescope.engine.colour import Colour as Colour
from tilescope.engine.colour import parse_hex
from tilescope.engine.colour import to_hex as to_hex

from_hex = parse_hex  # the name the annotation formats use

# QuPath's built-in classes keep the colours QuPath users know (PathClassFactory).
DEFAULT_CLASS_COLOURS: dict[str, Colour] = {
    "Tumor": (200, 0, 0),
    "Stroma": (150, 200, 150),
    "Immune cells": (160, 90, 160),
    "Necrosis": (50, 50, 50),
    "Other": (255, 200, 0),
    "Region*": (0, 0, 180),
    "Ignore*": (180, 180, 180),
    "Positive": (200, 50, 50),
    "Negative": (112, 112, 225),
    "Nucleus": (100, 150, 220),
}
UNCLASSIFIED_COLOUR: Colour = (255, 0, 0)


@dataclass(frozen=True, slots=True)
class AnnotationClass:
    name: str
    colour: Colour


def default_colour(name: str | None) -> Colour:
    """QuPath's colour for its standard classes, else a stable colour derived from the name."""
    if name is None:
        return UNCLASSIFIED_COLOUR
    if name in DEFAULT_CLASS_COLOURS:
        return DEFAULT_CLASS_COLOURS[name]
    digest = hashlib.blake2s(name.encode("utf-8"), digest_size=3).digest()
    # Lift dark hashes so every class stays visible on a dark overlay.
    return (64 + digest[0] * 3 // 4, 64 + digest[1] * 3 // 4, 64 + digest[2] * 3 // 4)


def check_colour(colour: object) -> Colour:
    """Validate an ``(r, g, b)`` colour; raises ValueError naming the bad value."""
    if (
        isinstance(colour, (tuple, list))
        and len(colour) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in colour)
    ):
        return (int(colour[0]), int(colour[1]), int(colour[2]))
    raise ValueError(f"colour must be three integers 0..255, got {colour!r}")


def pack_rgb(colour: Colour) -> int:
    """0xRRGGBB, the form the store keeps."""
    r, g, b = colour
    return (r << 16) | (g << 8) | b


def unpack_rgb(value: int) -> Colour:
    value &= 0xFFFFFF
    return ((value >> 16) & 255, (value >> 8) & 255, value & 255)


def from_qupath_argb(value: int) -> Colour:
    """QuPath <= 0.2 writes ``colorRGB`` as a signed 32-bit ARGB int (e.g. -3670016)."""
    return unpack_rgb(value)


def to_qupath_argb(colour: Colour) -> int:
    packed = 0xFF000000 | pack_rgb(colour)
    return packed - (1 << 32)


def from_colorref(value: int) -> Colour:
    """Aperio ImageScope ``LineColor`` is a Windows COLORREF: 0x00BBGGRR."""
    return (value & 255, (value >> 8) & 255, (value >> 16) & 255)


def to_colorref(colour: Colour) -> int:
    r, g, b = colour
    return r | (g << 8) | (b << 16)
