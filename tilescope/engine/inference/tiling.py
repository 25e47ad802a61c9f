"""Tile plans: the model's patch grid over a region, at the model's resolution.

Cores (the part of each tile whose objects it keeps) tile the region without gaps or overlap;
each tile adds `spec.margin` model pixels of context on every side, so neighbouring tiles
overlap by twice that. Tiles past the slide's edge are padded with background by the reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tilescope.engine.errors import InputError
from tilescope.engine.inference.types import TileInfo, TileSpec
from tilescope.engine.slide.metadata import SlideMetadata

Box = tuple[float, float, float, float]  # level-0 x, y, width, height
SNAP = 0.03  # relative pixel-size difference treated as "the same resolution"


@dataclass(frozen=True, slots=True)
class Resolution:
    """Level-0 pixels per model pixel, and a note when the model's mpp could not be honoured."""

    downsample: float
    note: str | None = None


def model_resolution(spec: TileSpec, meta: SlideMetadata) -> Resolution:
    """How far to downsample the slide for the model (never upsampling below 1/4)."""
    if spec.mpp is None:
        return Resolution(1.0, "model runs at the slide's native resolution")
    if meta.mpp is None:
        return Resolution(
            1.0, f"slide has no pixel size; running the {spec.mpp} µm/px model at native resolution"
        )
    slide_mpp = (meta.mpp[0] + meta.mpp[1]) / 2
    downsample = spec.mpp / slide_mpp
    if downsample < 0.25:
        return Resolution(0.25, f"model wants {spec.mpp} µm/px; slide is {slide_mpp:.3f}, capped")
    # Within SNAP of a pyramid level, read that level as is: resampling every tile by 0.2%
    # costs real time and changes nothing a model can see.
    for level in meta.levels:
        if abs(level.downsample - downsample) <= SNAP * downsample:
            return Resolution(level.downsample)
    return Resolution(downsample)


def full_region(meta: SlideMetadata) -> Box:
    return (0.0, 0.0, float(meta.width), float(meta.height))


def clip_region(region: Box, meta: SlideMetadata) -> Box:
    """The part of `region` inside the slide; InputError (a ValueError) when nothing is left."""
    x, y, w, h = region
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(meta.width), x + w), min(float(meta.height), y + h)
    if x1 <= x0 or y1 <= y0:
        raise InputError(
            f"region {x:g},{y:g},{w:g},{h:g}",
            f"lies outside the {meta.width} x {meta.height} slide",
        )
    return (x0, y0, x1 - x0, y1 - y0)


def _axis(length: int, patch: int, margin: int) -> list[tuple[int, int]]:
    """(start, core length) per tile along one axis, in region model pixels."""
    stride = patch - 2 * margin
    count = max(1, math.ceil(length / stride))
    return [(k * stride, min(stride, length - k * stride)) for k in range(count)]


def plan_tiles(
    region: Box, meta: SlideMetadata, spec: TileSpec, downsample: float
) -> list[TileInfo]:
    """Tiles covering `region` (level-0) at `downsample`, row by row."""
    rx, ry, rw, rh = region
    d = downsample
    pw, ph = spec.patch_size
    m = spec.margin
    cols = _axis(math.ceil(rw / d - 1e-9), pw, m)
    rows = _axis(math.ceil(rh / d - 1e-9), ph, m)
    tiles: list[TileInfo] = []
    eps = 1e-6
    for row, (sy, core_h) in enumerate(rows):
        for col, (sx, core_w) in enumerate(cols):
            x = rx + (sx - m) * d
            y = ry + (sy - m) * d
            tiles.append(
                TileInfo(
                    index=len(tiles),
                    x=x,
                    y=y,
                    width=pw,
                    height=ph,
                    downsample=d,
                    core=(m, m, m + core_w, m + core_h),
                    col=col,
                    row=row,
                    region=(rx, ry, rx + rw, ry + rh),
                    inner_edges=(
                        x > eps,
                        y > eps,
                        x + pw * d < meta.width - eps,
                        y + ph * d < meta.height - eps,
                    ),
                )
            )
    return tiles
