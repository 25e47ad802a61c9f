"""The pixel size a slide is used at, and where it came from.

Precedence, as users of QuPath expect: the command's own `--mpp`, then the size the user set
for this slide (Image > Set Pixel Size..., kept with the slide's annotations), then the file's
metadata. A file whose metadata has none, and nobody set one, stays without: models then run at
native resolution and say so, areas stay in px^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from tilescope.engine.errors import InputError
from tilescope.engine.slide.mpp import PLAUSIBLE_MPP, plausible_mpp
from tilescope.engine.slide.source import SlideSource

#: Store metadata key of the pixel size the user set for a slide (um/px, as text).
STORED_KEY = "pixel_size_um"

Origin = Literal["argument", "stored", "file", "none"]


@dataclass(frozen=True, slots=True)
class PixelSize:
    mpp: float | None
    origin: Origin

    def describe(self) -> str:
        if self.mpp is None:
            return "pixel size unknown"
        where = {"argument": "given", "stored": "set for this slide", "file": "from the file"}
        return f"{self.mpp:g} µm/px ({where[self.origin]})"


def check_mpp(value: float, what: str = "--mpp") -> float:
    """A user-given pixel size, or InputError saying the plausible range."""
    if not plausible_mpp(value):
        low, high = PLAUSIBLE_MPP
        raise InputError(
            what, f"pixel size must be between {low:g} and {high:g} µm/px, got {value!r}"
        )
    return float(value)


def stored_mpp(slide_path: str | Path) -> float | None:
    """The pixel size set for this slide, if a store exists and holds one (creates nothing)."""
    from tilescope.engine.annotations.store import AnnotationStore, existing_store_path

    path = existing_store_path(slide_path)
    if path is None:
        return None
    store = AnnotationStore(path)
    try:
        text = store.get_metadata(STORED_KEY)
    finally:
        store.close()
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and plausible_mpp(value) else None


def set_stored_mpp(slide_path: str | Path, mpp: float | None) -> None:
    """Remember (or, with None, forget) the pixel size the user set for this slide."""
    from tilescope.engine.annotations.store import AnnotationStore

    store = AnnotationStore.for_slide(slide_path)
    try:
        store.set_metadata(STORED_KEY, "" if mpp is None else repr(check_mpp(mpp, "pixel size")))
    finally:
        store.close()


def resolve_pixel_size(
    slide_path: str | Path, file_mpp: tuple[float, float] | None, override: float | None = None
) -> PixelSize:
    """The pixel size to use by the precedence in the module docstring."""
    if override is not None:
        return PixelSize(check_mpp(override), "argument")
    stored = stored_mpp(slide_path)
    if stored is not None:
        return PixelSize(stored, "stored")
    if file_mpp is not None and all(math.isfinite(v) and v > 0 for v in file_mpp):
        return PixelSize(math.sqrt(file_mpp[0] * file_mpp[1]), "file")
    return PixelSize(None, "none")


def apply_pixel_size(slide: SlideSource, override: float | None = None) -> PixelSize:
    """Resolve the pixel size for an open slide and make its metadata report it."""
    size = resolve_pixel_size(slide.path, slide.metadata.mpp, override)
    if size.origin in ("argument", "stored") and size.mpp is not None:
        slide.__dict__["metadata"] = replace(slide.metadata, mpp=(size.mpp, size.mpp))
    return size
