"""One request object for every pixel read, in one coordinate frame (QuPath's RegionRequest)."""

from __future__ import annotations

from dataclasses import dataclass


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
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"region size must be positive, got {self.width} x {self.height}")
        if not self.downsample > 0:
            raise ValueError(f"downsample must be positive, got {self.downsample}")

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the array a read returns, at least 1 x 1."""
        return (
            max(1, round(self.width / self.downsample)),
            max(1, round(self.height / self.downsample)),
        )
