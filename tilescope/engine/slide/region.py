"""One request object for every pixel read, in one coordinate frame (QuPath's RegionRequest)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tilescope.engine.errors import InputError


@dataclass(frozen=True, slots=True)
class RegionRequest:
    """A rectangle in level-0 pixels, read at `downsample` level-0 pixels per output pixel.

    The output has size ``round(width / downsample) x round(height / downsample)``.
    Being frozen and hashable, a request can also serve as a cache key.
    """

    x: float
    y: float
    width: float
    height: float
    downsample: float = 1.0

    def __post_init__(self) -> None:
        # InputError is a ValueError too: callers catching that keep working.
        for name in ("x", "y", "width", "height", "downsample"):
            value = getattr(self, name)
            try:
                finite = math.isfinite(value)  # numpy scalars too
            except TypeError:
                finite = False
            if not finite:
                raise InputError("region", f"{name} must be a finite number, got {value!r}")
        if self.width <= 0 or self.height <= 0:
            raise InputError(
                "region", f"region size must be positive, got {self.width} x {self.height}"
            )
        if not self.downsample > 0:
            raise InputError("region", f"downsample must be positive, got {self.downsample}")

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the array a read returns, at least 1 x 1."""
        return (
            max(1, round(self.width / self.downsample)),
            max(1, round(self.height / self.downsample)),
        )
