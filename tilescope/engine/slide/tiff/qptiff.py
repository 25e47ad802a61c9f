"""PerkinElmer (Akoya) QPTIFF: each channel page's ImageDescription is XML naming the channel."""

from __future__ import annotations

from defusedxml import ElementTree


def qptiff_channel_name(description: str) -> str | None:
    """The ``<Name>`` of a QPI page description, or None when absent or unreadable."""
    try:
        root = ElementTree.fromstring(description)
    except Exception:  # a broken description must not stop the pixels from opening
        return None
    name = root.find("Name")
    text = name.text.strip() if name is not None and name.text else ""
    return text or None
