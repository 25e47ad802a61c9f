"""Pixel arrays to paint-ready QImages: brightfield RGB as is, multichannel as a colour composite.

Runs in worker threads (QImage, unlike QPixmap, may be made off the GUI thread). Every image
returned owns its memory: numpy buffers are wrapped only for the duration of Qt's conversion.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from tilescope.engine.display import (  # noqa: F401 - re-exported: the viewer's names
    AUTO_PERCENTILES,
    RGB,
    ChannelDisplay,
    DisplaySettings,
    composite,
    default_color,
    default_display,
    shows_as_rgb,
)


def rgb_to_qimage(pixels: np.ndarray) -> QImage:
    """H x W x 3 (or 4, straight alpha) uint8 to an owned Format_RGB32 / ARGB32_Premultiplied."""
    pixels = np.ascontiguousarray(pixels)
    height, width, channels = pixels.shape
    if channels == 4:
        wrapped = QImage(pixels.data, width, height, width * 4, QImage.Format.Format_RGBA8888)
        return wrapped.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    # bytesPerLine is explicit: rows of 3-byte pixels are not 4-byte aligned.
    wrapped = QImage(pixels.data, width, height, width * 3, QImage.Format.Format_RGB888)
    # convertToFormat returns a new image that owns its pixels: `pixels` may go away after.
    return wrapped.convertToFormat(QImage.Format.Format_RGB32)


def gray_to_qimage(plane: np.ndarray) -> QImage:
    plane = np.ascontiguousarray(plane, dtype=np.uint8)
    height, width = plane.shape
    wrapped = QImage(plane.data, width, height, width, QImage.Format.Format_Grayscale8)
    return wrapped.convertToFormat(QImage.Format.Format_RGB32)


def to_qimage(pixels: np.ndarray, display: DisplaySettings) -> QImage:
    """The paint-ready image of a tile (or any array) under `display`."""
    if not display.is_composite:
        if pixels.dtype != np.uint8 or pixels.shape[2] not in (3, 4):
            raise ValueError(f"cannot show {pixels.shape[2]}-channel {pixels.dtype} as RGB")
        return rgb_to_qimage(pixels)
    if _is_plain_gray(pixels, display):
        return gray_to_qimage(pixels[:, :, 0])
    return rgb_to_qimage(composite(pixels, display))


def _is_plain_gray(pixels: np.ndarray, display: DisplaySettings) -> bool:
    if pixels.dtype != np.uint8 or len(display.channels) != 1:
        return False
    channel = display.channels[0]
    return (
        channel.visible
        and channel.color == (255, 255, 255)
        and (channel.minimum, channel.maximum) == (0.0, 255.0)
    )
