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

import numpy as np
from PySide6.QtCore import QObject, Signal, SignalInstance
from PySide6.QtGui import QImage

from tilescope.engine.slide import SlideError, SlideMetadata, SlideSource
from tilescope.gui.render import DisplaySettings, default_display, shows_as_rgb, to_qimage
from tilescope.gui.tile_layout import TileKey

log = logging.getLogger(__name__)

OVERVIEW_MAX_SIDE = 3072  # a level up to this size is the overview as is
THUMBNAIL_SIDE = 2048  # otherwise (single-level images) a resampled thumbnail
_OVERVIEW = "overview"
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
    """One per view. Signals arrive on the GUI thread (queued from the workers)."""

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
        self._lock = threading.Condition()
        self._queue: list[object] = []  # TileKeys, or _OVERVIEW; index 0 is served first
        self._in_flight: set[tuple[object, int]] = set()
        self._generation = 0
        self._display: DisplaySettings | None = (
            DisplaySettings() if shows_as_rgb(source.metadata) else None
        )
        self._overview_raw: np.ndarray | None = None
        self._overview_lock = threading.Lock()
        self._stopped = False
        self._last_pending = -1
        self.tiles_decoded = 0  # tiles rendered by workers (for benchmarks and tests)
        self._threads = [
            threading.Thread(target=self._work, name=f"tile-loader-{i}", daemon=True)
            for i in range(threads or default_thread_count())
        ]
        for thread in self._threads:
            thread.start()

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
            self._lock.notify_all()

    def request_overview(self) -> None:
        with self._lock:
            if not self._stopped and _OVERVIEW not in self._queue:
                self._queue.insert(0, _OVERVIEW)
            self._lock.notify_all()
        self._report_pending()

    def request(self, keys: Sequence[TileKey]) -> None:
        """Want exactly `keys`, most important first; earlier wishes not in it are dropped."""
        with self._lock:
            if self._stopped:
                return
            generation = self._generation
            head = [_OVERVIEW] if _OVERVIEW in self._queue else []
            self._queue = head + [k for k in keys if (k, generation) not in self._in_flight]
            self._lock.notify_all()
        self._report_pending()

    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + len(self._in_flight)

    def stop(self) -> None:
        """Drop every request and emit nothing more; reads in progress finish on their own."""
        with self._lock:
            self._stopped = True
            self._queue.clear()
            self._lock.notify_all()

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait until the workers have exited (after `stop`): then the source may be closed."""
        for thread in self._threads:
            thread.join(timeout=timeout_s)

    def shutdown(self) -> None:
        self.stop()
        self.join()

    # -- worker threads -----------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopped:
                    self._lock.wait()
                if self._stopped:
                    return
                job = self._queue.pop(0)
                generation = self._generation
                self._in_flight.add((job, generation))
            try:
                if job == _OVERVIEW:
                    self._load_overview(generation)
                else:
                    assert isinstance(job, tuple)
                    self._load_tile(job, generation)
            except Exception as error:  # a worker must never die silently
                message = error.problem if isinstance(error, SlideError) else str(error)
                log.warning("tile %s of %s failed: %s", job, self._source.path, message)
                self._emit(self.tile_failed, job, message)
            finally:
                with self._lock:
                    self._in_flight.discard((job, generation))
                self._report_pending()

    def _snapshot(self) -> tuple[DisplaySettings | None, int]:
        with self._lock:
            return self._display, self._generation

    def _load_overview(self, generation: int) -> None:
        with self._overview_lock:  # one read, however many workers need it
            raw = self._overview_raw
            if raw is None:
                raw = read_overview(self._source)
                # Only composites are re-rendered (new channel settings): keep their pixels.
                if not shows_as_rgb(self._source.metadata):
                    self._overview_raw = raw
            with self._lock:
                chose = self._display is None
                if chose:
                    self._display = default_display(self._source.metadata, raw)
        display, generation = self._snapshot()
        assert display is not None
        if chose:
            self._emit(self.display_ready, display)
        self._emit(self.overview_ready, to_qimage(raw, display), generation)

    def _load_tile(self, key: TileKey, generation: int) -> None:
        display, generation = self._snapshot()
        if display is None:  # multichannel: the overview chooses the display ranges first
            self._load_overview(generation)
            display, generation = self._snapshot()
        assert display is not None
        pixels = self._source.read_tile(*key)
        image: QImage = to_qimage(pixels, display)
        self.tiles_decoded += 1
        self._emit(self.tile_ready, key, image, generation)

    def _emit(self, signal: SignalInstance, *args: object) -> None:
        with self._lock:  # no emission after shutdown: the receiver may be gone
            if self._stopped:
                return
            try:
                signal.emit(*args)
            except RuntimeError:  # the Qt object was deleted without a shutdown
                self._stopped = True

    def _report_pending(self) -> None:
        with self._lock:
            count = len(self._queue) + len(self._in_flight)
            changed = count != self._last_pending
            self._last_pending = count
        if changed:
            self._emit(self.pending_changed, count)
