"""The pixel size an open slide is shown and measured at, and changing it from the GUI.

The engine resolves it (`tilescope.engine.pixel_size`: the size set for the slide, else the
file's); here each open source also remembers its file's own value, so that forgetting a set
size gives the file's back without reopening the slide.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import replace

from tilescope.engine.pixel_size import PixelSize, apply_pixel_size, set_stored_mpp
from tilescope.engine.slide import SlideSource

#: Shown in the status bar when neither the file nor the user gave a pixel size.
UNKNOWN_TEXT = "pixel size unknown — Image > Set Pixel Size…"

_lock = threading.Lock()
# source -> (the file's own mpp, the pixel size in use); weak: a closed tab forgets it.
_state: weakref.WeakKeyDictionary[SlideSource, tuple[tuple[float, float] | None, PixelSize]] = (
    weakref.WeakKeyDictionary()
)


def _file_size(file_mpp: tuple[float, float] | None) -> PixelSize:
    if file_mpp is not None and all(math.isfinite(v) and v > 0 for v in file_mpp):
        return PixelSize(math.sqrt(file_mpp[0] * file_mpp[1]), "file")
    return PixelSize(None, "none")


def load_pixel_size(source: SlideSource) -> PixelSize:
    """Apply the size stored for the slide to a freshly opened source (worker thread: it
    hashes the file to find the store) and remember the file's own."""
    file_mpp = source.metadata.mpp
    size = apply_pixel_size(source)
    with _lock:
        _state[source] = (file_mpp, size)
    return size


def pixel_size_of(source: SlideSource) -> PixelSize:
    """The pixel size in use (the file's when `load_pixel_size` never ran on it)."""
    with _lock:
        known = _state.get(source)
    return known[1] if known is not None else _file_size(source.metadata.mpp)


def show_pixel_size(source: SlideSource, mpp: float | None) -> PixelSize:
    """Make an open source report `mpp` (None: the file's own again); stores nothing."""
    with _lock:
        file_mpp, _ = _state.get(source, (source.metadata.mpp, _file_size(source.metadata.mpp)))
        size = PixelSize(mpp, "stored") if mpp is not None else _file_size(file_mpp)
        _state[source] = (file_mpp, size)
    shown = (mpp, mpp) if mpp is not None else file_mpp
    # The same override `apply_pixel_size` makes: every reader of `metadata` sees it at once.
    source.__dict__["metadata"] = replace(source.metadata, mpp=shown)
    return size


def set_pixel_size(source: SlideSource, mpp: float | None) -> PixelSize:
    """Store `mpp` for the slide (None: forget it) and show it on this source.

    Raises InputError for an implausible size (nothing stored then)."""
    set_stored_mpp(source.path, mpp)
    return show_pixel_size(source, mpp)


def status_text(size: PixelSize) -> str:
    return UNKNOWN_TEXT if size.mpp is None else size.describe()
