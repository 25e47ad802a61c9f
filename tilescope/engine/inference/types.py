"""The contract between the inference engine and a model type, in engine terms.

Coordinates: *level-0* pixels of the slide (QuPath's frame) for everything a user sees;
*tile pixels* (the model's input grid) inside one tile. A tile at level-0 origin (x, y) read
at `downsample` maps tile pixel (i, j) to level-0 (x + i * downsample, y + j * downsample).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.engine.annotations.model import Annotation

if TYPE_CHECKING:
    from tilescope.engine.slide.source import SlideSource


def scaled_to_level0(geometry: BaseGeometry, x: float, y: float, d: float) -> BaseGeometry:
    """`geometry` scaled by `d` and moved by (x, y): model pixels into level-0 pixels.

    One vectorised `shapely.transform` (affine_transform was ~4x slower per object).
    """
    origin = np.array([x, y])
    return shapely.transform(geometry, lambda xy: xy * d + origin)


@dataclass(frozen=True, slots=True)
class TileSpec:
    """How a model wants to be fed.

    `overlap` and `halo` are in model pixels. `halo` is the unreliable border of each output
    (context only); `overlap` is what neighbouring tiles share and must exceed the largest
    object so that every object lies whole in the tile that owns its centroid.
    `mpp` None means the slide's native resolution. `whole_image` models get one image of a
    region (e.g. a page) through `run_region` instead of tiles.
    """

    patch_size: tuple[int, int]  # (width, height) in model pixels
    overlap: int = 0
    halo: int = 0
    mpp: float | None = None
    batch_size: int = 1
    whole_image: bool = False

    def __post_init__(self) -> None:
        w, h = self.patch_size
        if w <= 0 or h <= 0:
            raise ValueError(f"patch size must be positive, got {w} x {h}")
        if self.overlap < 0 or self.halo < 0:
            raise ValueError("overlap and halo must not be negative")
        if not self.whole_image and 2 * self.margin >= min(w, h):
            raise ValueError(
                f"overlap/halo ({self.overlap}/{self.halo}) leave no core in a {w} x {h} patch"
            )
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")

    @property
    def margin(self) -> int:
        """Model pixels on each interior side of a tile that belong to a neighbour."""
        return max((self.overlap + 1) // 2, self.halo)


@dataclass(frozen=True, slots=True)
class TileInfo:
    """One tile of a plan: where it lies on the slide and which part of it it owns.

    `core` is (x0, y0, x1, y1) in tile pixels: the part of the tile whose objects this tile
    keeps (the centroid-in-core rule); the cores of a plan tile the region without overlap.
    `inner_edges` (left, top, right, bottom) says where the image continues beyond the tile's
    edge: an object touching such an edge may be cut, so it is dropped (its owner sees it
    whole). At the slide's own border nothing continues, and objects there are kept.
    """

    index: int
    x: float  # level-0 origin
    y: float
    width: int  # model pixels
    height: int
    downsample: float  # level-0 pixels per model pixel
    core: tuple[int, int, int, int]
    col: int = 0
    row: int = 0
    inner_edges: tuple[bool, bool, bool, bool] = (True, True, True, True)
    #: the run's region (x0, y0, x1, y1, level-0): cores never reach past it, so rounding
    #: to whole model pixels cannot admit an object whose centroid lies outside the region
    region: tuple[float, float, float, float] | None = None

    def to_level0(self, geometry: BaseGeometry) -> BaseGeometry:
        """A geometry in tile pixels moved and scaled into level-0 pixels."""
        return scaled_to_level0(geometry, self.x, self.y, self.downsample)

    @property
    def level0_box(self) -> tuple[float, float, float, float]:
        d = self.downsample
        return (self.x, self.y, self.x + self.width * d, self.y + self.height * d)

    @property
    def level0_core(self) -> tuple[float, float, float, float]:
        d = self.downsample
        x0, y0, x1, y1 = self.core
        box = (self.x + x0 * d, self.y + y0 * d, self.x + x1 * d, self.y + y1 * d)
        if self.region is None:
            return box
        rx0, ry0, rx1, ry1 = self.region
        return (max(box[0], rx0), max(box[1], ry0), min(box[2], rx1), min(box[3], ry1))


@dataclass(slots=True)
class TileResult:
    """What a model type makes of one tile.

    `instances` and `boxes` hold annotations already in level-0 pixels (use
    `TileInfo.to_level0`); `probabilities` is a C x H x W float32 map over the whole tile in
    tile pixels (the stitcher blends overlaps and drops the halo).
    """

    instances: list[Annotation] = field(default_factory=list)
    boxes: list[Annotation] = field(default_factory=list)
    probabilities: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    """A user's hint for a prompted model: a click (one point) or a squiggle (a polyline).

    Points are level-0 pixels; `positive` False marks background clicks.
    """

    kind: Literal["point", "squiggle"]
    points: tuple[tuple[float, float], ...]
    positive: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("point", "squiggle"):
            raise ValueError(f"prompt kind must be 'point' or 'squiggle', got {self.kind!r}")
        if not self.points:
            raise ValueError("a prompt needs at least one point")
        if self.kind == "point" and len(self.points) != 1:
            raise ValueError("a point prompt has exactly one point")


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """The region a whole-image model sees: level-0 origin and the downsample it was read at."""

    x: float
    y: float
    downsample: float

    def to_level0(self, geometry: BaseGeometry) -> BaseGeometry:
        return scaled_to_level0(geometry, self.x, self.y, self.downsample)


@dataclass(frozen=True)
class ModelIdentity:
    """What a job records about a model: the runs table, resume checks, the classes' colours."""

    id: str
    version: str
    sha256: str
    parameters: dict[str, Any] = field(default_factory=dict)
    class_colours: dict[str, str] = field(default_factory=dict)  # name -> "#rrggbb"


@runtime_checkable
class TileModel(Protocol):
    """What the runner needs from a model type (`tilescope.plugins.base.ModelType` is one)."""

    def tile_spec(self) -> TileSpec: ...

    def identity(self) -> ModelIdentity: ...

    def uses_tissue_detection(self) -> bool: ...

    def class_names(self) -> Sequence[str]: ...

    def preprocess(self, batch: list[np.ndarray]) -> dict[str, np.ndarray]: ...

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]: ...

    def postprocess(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[TileResult]: ...

    def run_region(self, image: np.ndarray, region: RegionInfo) -> list[Annotation]: ...

    def segment_prompts(self, slide: SlideSource, prompts: list[Prompt]) -> list[Annotation]: ...
