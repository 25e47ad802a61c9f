"""Colours as ``(r, g, b)`` tuples of 0..255, and the one ``#RRGGBB`` parser and writer.

Model manifests, GeoJSON properties, ASAP files, class tables and colour maps all spell
colours as ``#RRGGBB``; every reader goes through `parse_hex` so they accept the same text.
"""

from __future__ import annotations

import re

Colour = tuple[int, int, int]

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def is_hex(text: object) -> bool:
    """True for ``#RRGGBB`` (either case, no spaces)."""
    return isinstance(text, str) and _HEX.fullmatch(text) is not None


def parse_hex(text: str) -> Colour:
    """``#RRGGBB`` -> ``(r, g, b)``; surrounding spaces are ignored; anything else raises
    ValueError naming the text."""
    value = text.strip() if isinstance(text, str) else text
    if not is_hex(value):
        raise ValueError(f"colour must look like #RRGGBB, got {text!r}")
    packed = int(value[1:], 16)
    return ((packed >> 16) & 255, (packed >> 8) & 255, packed & 255)


def to_hex(colour: Colour) -> str:
    """``(r, g, b)`` -> ``#RRGGBB`` (upper case, as ASAP and QuPath write it)."""
    return "#{:02X}{:02X}{:02X}".format(*colour)
