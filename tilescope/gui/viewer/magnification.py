"""Objective-equivalent magnification of a view ("10.0x"), from objective power or mpp.

Magnification is counted in *device* pixels: at the slide's objective power one slide pixel
covers one device pixel, so "40x" on a HiDPI screen is as sharp as the scan allows.
"""

from __future__ import annotations

import math

from tilescope.engine.slide import SlideMetadata

#: A 40x scan has about 0.25 um per pixel; used when a slide states mpp but no objective.
MPP_AT_40X = 0.25
ZOOM_PRESETS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 40.0)


def base_magnification(metadata: SlideMetadata) -> float | None:
    """The magnification of level 0 at one slide pixel per device pixel, if known."""
    power = metadata.objective_power
    if power and math.isfinite(power) and power > 0:
        return float(power)
    mpp = metadata.mpp[0] if metadata.mpp else None
    if mpp and math.isfinite(mpp) and mpp > 0:  # inf or NaN from a file: unknown
        return 40.0 * MPP_AT_40X / mpp
    return None


def magnification(metadata: SlideMetadata, device_downsample: float) -> float | None:
    base = base_magnification(metadata)
    return None if base is None else base / device_downsample


def device_downsample_for(metadata: SlideMetadata, target: float) -> float | None:
    """Level-0 pixels per device pixel that show the slide at `target` magnification."""
    base = base_magnification(metadata)
    return None if base is None else base / target


def format_zoom(metadata: SlideMetadata, device_downsample: float) -> str:
    """'10.0x' when the magnification is known, else the zoom as a percentage of 1:1."""
    mag = magnification(metadata, device_downsample)
    if mag is not None:
        return f"{mag:.1f}x" if mag < 100 else f"{mag:.0f}x"
    percent = 100.0 / device_downsample
    return f"{percent:.1f}%" if percent < 10 else f"{percent:.0f}%"
