"""Reads and renders tiles in worker threads and hands paint-ready QImages to the GUI thread.

napari's async slicing and QuPath's region store, in small: the view says which tiles it wants
(most important first); every new request replaces the old queue, so tiles that left the
viewport are dropped before anyone reads them and the newest request is served first. Workers
read through the engine's shared byte-bounded cache, convert to a QImage (composite for
multichannel images) and emit a signal; Qt queues it to the GUI thread. The GUI thread never
waits for I/O or decoding.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from tilescope.engine.slide import SlideError, SlideMetadata, SlideSource
from tilescope.gui.viewer.render import DisplaySettings, default_display, shows_as_rgb, to_qimage
from tilescope.gui.viewer.tile_layout import TileKey
from tilescope.gui.workers import KeyedExecutor, Worker, function_worker

log = logging.getLogger(__name__)

OVERVIEW_MAX_SIDE = 3072  # a level up to this size is the overview as is
THUMBNAIL_SIDE = 2048  # otherwise (single-level images) a resampled thumbnail
_OVERVIEW = "overview"
# An image rendered by a worker, its display generation, and the display it chose (if any).
_Loaded = tuple[QImage, int, DisplaySettings | None]
_prefetch_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tilescope-overview")


def default_thread_count() -> int:
    return max(2, min(4, os.cpu_count() or 2))


def overview_level(metadata: SlideMetadata) -> int | None:
    """The level read whole as the overview, or None when a thumbnail is made instead."""
    for index, level in enumerate(metadata.levels):
        if max(level.width, level.height) <= OVERVIEW_MAX_SIDE:
            return index
    return None


def overview_downsample(metadata: SlideMetadata) -> float:
    """Level-0 pixels per overview pixel, known before the overview is read."""
    index = overview_level(metadata)
    if index is not None:
        return metadata.levels[index].downsample
    return max(max(metadata.width, metadata.height) / THUMBNAIL_SIDE, 1.0)


def read_overview(source: SlideSource) -> np.ndarray:
    """The whole slide at low resolution, resident in the view so that it is never blank.

    The finest level at most OVERVIEW_MAX_SIDE across is read as it is (exact pixels, no
    resampling), its tiles decoded in parallel; images without such a level get a thumbnail.
    """
    index = overview_level(source.metadata)
    if index is None:
        return source.thumbnail(THUMBNAIL_SIDE)
    level = source.metadata.levels[index]
    _prefetch_level(source, index)
    return source.read_level_region(index, 0, 0, level.width, level.height)


def _prefetch_level(source: SlideSource, level: int) -> None:
    """Decode every tile of `level` into the engine cache, several at once."""
    columns, rows = source.tile_grid(level)
    keys = [(level, c, r) for r in range(rows) for c in range(columns)]
    for future in [_prefetch_pool.submit(source.read_tile, *key) for key in keys]:
        future.result()


class TileLoader(QObject):
    """One per view. Signals are emitted on the GUI thread.

    The loader's `KeyedExecutor` holds the queue: a request replaces it (the overview stays
    first), a tile already on its way at the current display generation is not asked for
    again, and a newer display generation supersedes older reads of the same tile.
    """

    tile_ready = Signal(object, object, int)  # TileKey, QImage, generation
    tile_failed = Signal(object, str)  # TileKey, message
    overview_ready = Signal(object, int)  # QImage, generation
    display_ready = Signal(object)  # DisplaySettings chosen automatically
    pending_changed = Signal(int)

    def __init__(
        self, source: SlideSource, threads: int | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._source = source
        self._lock = threading.Lock()  # display and generation, read by the workers
        self._generation = 0
        self._display: DisplaySettings | None = (
            DisplaySettings() if shows_as_rgb(source.metadata) else None
        )
        self._overview_raw: np.ndarray | None = None
        self._overview_lock = threading.Lock()
        self._last_pending = -1
        self.tiles_decoded = 0  # tiles rendered by workers (for benchmarks and tests)
        self._executor: KeyedExecutor[TileKey | str] = KeyedExecutor(
            threads or default_thread_count(), "tile-loader", on_settled=self._report_pending
        )
        self._threads = self._executor.threads

    # -- called from the GUI thread -----------------------------------------------------
    @property
    def generation(self) -> int:
        """Bumped whenever the rendering changes; older images are stale."""
        return self._generation

    @property
    def display(self) -> DisplaySettings | None:
        return self._display

    def set_display(self, display: DisplaySettings) -> None:
        with self._lock:
            self._display = display
            self._generation += 1

    def request_overview(self) -> None:
        worker = function_worker(self._load_overview).on_returned(self._overview_loaded)
        worker.on_errored(partial(self._failed, _OVERVIEW))
        self._executor.submit(worker, key=_OVERVIEW, tag=self._generation, first=True)
        self._report_pending()

    def request(self, keys: Sequence[TileKey]) -> None:
        """Want exactly `keys`, most important first; earlier wishes not in it are dropped."""
        if self._executor.closed:
            return
        self._executor.replace(keys, self._tile_worker, tag=self._generation, keep=(_OVERVIEW,))
        self._report_pending()

    def pending(self) -> int:
        return self._executor.pending()

    def stop(self) -> None:
        """Drop every request and emit nothing more; reads in progress finish on their own."""
        self._executor.shutdown()

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait until the workers have exited (after `stop`): then the source may be closed."""
        self._executor.join(timeout_s)

    def shutdown(self) -> None:
        self.stop()
        self.join()

    def _tile_worker(self, key: TileKey) -> Worker[None, _Loaded]:
        worker = function_worker(self._load_tile, key)
        return worker.on_returned(partial(self._tile_loaded, key)).on_errored(
            partial(self._failed, key)
        )

    def _tile_loaded(self, key: TileKey, loaded: _Loaded) -> None:
        image, generation, chosen = loaded
        if chosen is not None:
            self.display_ready.emit(chosen)
        self.tile_ready.emit(key, image, generation)

    def _overview_loaded(self, loaded: _Loaded) -> None:
        image, generation, chosen = loaded
        if chosen is not None:
            self.display_ready.emit(chosen)
        self.overview_ready.emit(image, generation)

    def _failed(self, job: object, error: Exception) -> None:
        message = error.problem if isinstance(error, SlideError) else str(error)
        log.warning("tile %s of %s failed: %s", job, self._source.path, message)
        self.tile_failed.emit(job, message)

    def _report_pending(self) -> None:
        count = self._executor.pending()
        if count != self._last_pending and not self._executor.closed:
            self._last_pending = count
            self.pending_changed.emit(count)

    # -- worker threads -----------------------------------------------------------------
    def _snapshot(self) -> tuple[DisplaySettings | None, int]:
        with self._lock:
            return self._display, self._generation

    def _overview_pixels(self) -> tuple[np.ndarray, DisplaySettings | None]:
        """The overview's pixels, and the display chosen from them if none was set yet."""
        with self._overview_lock:  # one read, however many workers need it
            raw = self._overview_raw
            if raw is None:
                raw = read_overview(self._source)
                # Only composites are re-rendered (new channel settings): keep their pixels.
                if not shows_as_rgb(self._source.metadata):
                    self._overview_raw = raw
            with self._lock:
                chosen = None
                if self._display is None:
                    chosen = self._display = default_display(self._source.metadata, raw)
        return raw, chosen

    def _load_overview(self) -> _Loaded:
        raw, chosen = self._overview_pixels()
        display, generation = self._snapshot()
        assert display is not None
        return to_qimage(raw, display), generation, chosen

    def _load_tile(self, key: TileKey) -> _Loaded:
        display, generation = self._snapshot()
        chosen = None
        if display is None:  # multichannel: the overview chooses the display ranges first
            _, chosen = self._overview_pixels()
            display, generation = self._snapshot()
        assert display is not None
        pixels = self._source.read_tile(*key)
        image: QImage = to_qimage(pixels, display)
        self.tiles_decoded += 1
        return image, generation, chosen
