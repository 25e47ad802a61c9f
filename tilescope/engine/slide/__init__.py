"""Slide reading: one request frame, backends chosen by priority, a shared tile cache."""

from tilescope.engine.slide.errors import SlideError
from tilescope.engine.slide.metadata import Level, SlideMetadata
from tilescope.engine.slide.opener import open_slide
from tilescope.engine.slide.region import RegionRequest
from tilescope.engine.slide.source import SlideSource
from tilescope.engine.slide.tile_cache import TileCache, shared_tile_cache

__all__ = [
    "Level",
    "RegionRequest",
    "SlideError",
    "SlideMetadata",
    "SlideSource",
    "TileCache",
    "open_slide",
    "shared_tile_cache",
]
