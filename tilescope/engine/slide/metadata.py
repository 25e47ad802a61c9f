"""What a slide says about itself: geometry, resolution, channels, associated images."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Level:
    """One pyramid level: its size in pixels and level-0 pixels per level pixel."""

    width: int
    height: int
    downsample: float


@dataclass(frozen=True)
class SlideMetadata:
    """Everything a viewer or a model needs to know before reading pixels.

    Pixels are always returned as ``H x W x C`` arrays (``axes == "YXC"``); brightfield slides
    are RGB uint8 with ``channels == 3``.
    """

    format: str  # e.g. "aperio", "generic-tiff", "ome-tiff", "ome-zarr", "png"
    levels: tuple[Level, ...]
    mpp: tuple[float, float] | None = None
    objective_power: float | None = None
    channels: int = 3
    channel_names: tuple[str, ...] = ("R", "G", "B")
    dtype: str = "uint8"
    is_rgb: bool = True
    associated_images: tuple[str, ...] = ()
    scene_count: int = 1
    properties: dict[str, Any] = field(default_factory=dict)
    axes: str = "YXC"
    #: One-line remarks about the metadata, e.g. why a stated pixel size was not believed.
    notes: tuple[str, ...] = ()
    #: Display colour per channel ("#rrggbb", "" where the file names none); empty if none.
    channel_colours: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return self.levels[0].width

    @property
    def height(self) -> int:
        return self.levels[0].height

    @property
    def downsamples(self) -> tuple[float, ...]:
        return tuple(level.downsample for level in self.levels)

    def best_level_for_downsample(self, downsample: float) -> int:
        """The finest level whose downsample does not exceed `downsample` (OpenSlide's rule)."""
        best = 0
        for index, level in enumerate(self.levels):
            if level.downsample <= downsample * (1 + 1e-9):
                best = index
        return best

    def to_json(self, path: str) -> dict[str, Any]:
        """The stable `tilescope info --json` contract."""
        return {
            "path": path,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "levels": [
                {"width": lv.width, "height": lv.height, "downsample": lv.downsample}
                for lv in self.levels
            ],
            "mpp": list(self.mpp) if self.mpp is not None else None,
            "objective_power": self.objective_power,
            "channels": self.channels,
            "channel_names": list(self.channel_names),
            "dtype": self.dtype,
            "associated_images": list(self.associated_images),
            "scenes": self.scene_count,
            "channel_colours": list(self.channel_colours),
            "notes": list(self.notes),
        }
