"""Which tiles a view needs, and where each lands on screen (pure geometry, no I/O)."""

from __future__ import annotations

import math

from tilescope.engine.slide import SlideSource
from tilescope.gui.viewer.view_transform import ViewTransform

TileKey = tuple[int, int, int]  # (level, col, row)


def level_for(source: SlideSource, transform: ViewTransform) -> int:
    """The finest pyramid level not finer than the screen's device pixels."""
    return source.metadata.best_level_for_downsample(transform.device_downsample)


def visible_tiles(source: SlideSource, level: int, transform: ViewTransform) -> list[TileKey]:
    """Tiles of `level` that intersect the view, nearest to the centre first."""
    lv = source.metadata.levels[level]
    tw, th = source.tile_size(level)
    cols, rows = source.tile_grid(level)
    rect = transform.visible_rect()
    ds = lv.downsample
    c0 = max(0, math.floor(rect.left() / ds / tw))
    c1 = min(cols - 1, math.floor(rect.right() / ds / tw))
    r0 = max(0, math.floor(rect.top() / ds / th))
    r1 = min(rows - 1, math.floor(rect.bottom() / ds / th))
    if c0 > c1 or r0 > r1:
        return []
    cx, cy = transform.center_x / ds / tw - 0.5, transform.center_y / ds / th - 0.5
    keys = [(level, c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
    keys.sort(key=lambda k: (k[1] - cx) ** 2 + (k[2] - cy) ** 2)
    return keys


def tile_bounds_level0(source: SlideSource, key: TileKey) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in level-0 pixels of a tile (edge tiles are cropped to the level)."""
    level, col, row = key
    tw, th = source.tile_size(level)
    lv = source.metadata.levels[level]
    x, y = col * tw, row * th
    width, height = min(tw, lv.width - x), min(th, lv.height - y)
    ds = lv.downsample
    return (x * ds, y * ds, (x + width) * ds, (y + height) * ds)


def covering_tile(source: SlideSource, level: int, x: float, y: float) -> TileKey:
    """The tile of `level` that contains the level-0 point (x, y)."""
    tw, th = source.tile_size(level)
    ds = source.metadata.levels[level].downsample
    return (level, int(x / ds // tw), int(y / ds // th))
