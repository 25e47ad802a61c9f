"""Microns per pixel from TIFF resolution tags, only where they describe a microscope.

Most TIFF writers put 72 or 300 dpi into XResolution/YResolution whatever the image is; read as
a pixel size that would claim hundreds of microns per pixel. A resolution is believed only when
its unit is metric (centimetre, millimetre, micrometre) and the pixel size it gives is plausible
for a slide scanner or a microscope camera.
"""

from __future__ import annotations

import math

#: Pixel sizes (um/px) a microscope image can plausibly have; outside it the tag is a default.
PLAUSIBLE_MPP = (0.05, 50.0)

#: Micrometres per resolution unit, by TIFF ResolutionUnit code (2 = inch is deliberately absent).
_MICRONS_PER_UNIT = {3: 10_000.0, 4: 1_000.0, 5: 1.0}

#: Micrometres per OME length unit.
_MICRONS_PER_OME_UNIT = {
    "pm": 1e-6,
    "Å": 1e-4,
    "nm": 1e-3,
    "µm": 1.0,
    "um": 1.0,
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
}


def plausible_mpp(value: float | None) -> bool:
    """True for a finite pixel size within `PLAUSIBLE_MPP`."""
    return (
        value is not None
        and math.isfinite(value)
        and (PLAUSIBLE_MPP[0] <= value <= PLAUSIBLE_MPP[1])
    )


def vendor_mpp(
    mpp_x: float | None, mpp_y: float | None, where: str
) -> tuple[tuple[float, float] | None, str | None]:
    """A pixel size the file's metadata states, and a note when it is not believed.

    Values outside `PLAUSIBLE_MPP` (inf, 1e300, 1e-300, a negative or zero size) come back as
    unknown (None) with a one-line note naming `where` they came from, so a viewer shows
    "pixel size unknown" and why, instead of a scale bar of infinite length.
    """
    if mpp_x is None and mpp_y is None:
        return None, None
    if plausible_mpp(mpp_x) and plausible_mpp(mpp_y):
        assert mpp_x is not None and mpp_y is not None
        return (float(mpp_x), float(mpp_y)), None
    low, high = PLAUSIBLE_MPP
    stated = f"{mpp_x!r}" if mpp_x == mpp_y else f"{mpp_x!r} x {mpp_y!r}"
    return None, (
        f"{where} gives a pixel size of {stated} µm/px, outside {low:g}-{high:g}: "
        "pixel size treated as unknown (set it with --mpp or Image > Set Pixel Size)"
    )


def parse_number(value: object) -> float | None:
    """A metadata value as a float (inf and nan included, for `vendor_mpp` to judge), or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


#: Objective magnifications a microscope can have.
PLAUSIBLE_OBJECTIVE = (0.5, 200.0)


def plausible_objective(value: float | None) -> float | None:
    """The objective power if it is a real magnification, else None."""
    if value is None or not math.isfinite(value):
        return None
    return value if PLAUSIBLE_OBJECTIVE[0] <= value <= PLAUSIBLE_OBJECTIVE[1] else None


def _pixels_per_unit(value: object) -> float | None:
    """A resolution tag as a float: tifffile gives (numerator, denominator) or a number."""
    try:
        if isinstance(value, tuple | list):
            numerator, denominator = value
            return float(numerator) / float(denominator) if float(denominator) else None
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def mpp_from_resolution(
    x_resolution: object, y_resolution: object, unit: int | None
) -> tuple[float, float] | None:
    """(mpp_x, mpp_y) from XResolution, YResolution and ResolutionUnit, or None.

    `unit` is the TIFF code: 1 none, 2 inch, 3 centimetre; 4 millimetre and 5 micrometre are
    used by some writers. Inch and unit-less resolutions give None: they are almost always
    72/96/300 dpi defaults written by software that knows nothing about the optics.
    """
    microns_per_unit = _MICRONS_PER_UNIT.get(int(unit)) if unit is not None else None
    if microns_per_unit is None:
        return None
    px = _pixels_per_unit(x_resolution)
    py = _pixels_per_unit(y_resolution)
    if not px or not py or px <= 0 or py <= 0:
        return None
    mpp = (microns_per_unit / px, microns_per_unit / py)
    return mpp if plausible_mpp(mpp[0]) and plausible_mpp(mpp[1]) else None


def microns(value: float | None, unit: str | None) -> float | None:
    """An OME physical size in micrometres (OME's default unit is µm), or None if unknown."""
    if value is None:
        return None  # zero, negative or non-finite values are returned for the caller to judge
    factor = _MICRONS_PER_OME_UNIT.get((unit or "µm").strip())
    return value * factor if factor is not None else None
