"""A byte-bounded tile cache shared by every open slide.

When several threads ask for the same missing tile, one reads it and the others wait for that
read instead of decoding the tile again (QuPath's rule).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

import numpy as np

from tilescope.engine.byte_lru import ByteLRU

DEFAULT_SHARE_OF_RAM = 0.125
DEFAULT_FALLBACK_BYTES = 512 * 1024 * 1024


def default_cache_bytes() -> int:
    """`tile_cache_mb` when set, else a share of physical memory, as QuPath does."""
    from tilescope.engine.settings import settings

    configured = int(settings().tile_cache_mb)
    if configured > 0:
        return configured * 1024 * 1024
    try:
        import os

        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
        return int(pages * page_size * DEFAULT_SHARE_OF_RAM)
    except (ValueError, OSError, AttributeError):
        return DEFAULT_FALLBACK_BYTES


class _Pending:
    """A read in flight: waiters block on `done` and then take `value` or `error`."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: np.ndarray | None = None
        self.error: BaseException | None = None


def _tile_bytes(tile: np.ndarray) -> int:
    return int(tile.nbytes)


class TileCache:
    """LRU of numpy tiles bounded by their total `nbytes`; `max_bytes=0` switches it off.

    The LRU itself is `ByteLRU`; this class adds the lock, the single-flight loading and the
    hit/miss counts."""

    def __init__(self, max_bytes: int | None = None) -> None:
        budget = default_cache_bytes() if max_bytes is None else max(0, max_bytes)
        self._tiles: ByteLRU[Hashable, np.ndarray] = ByteLRU(budget, _tile_bytes)
        self._pending: dict[Hashable, _Pending] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def max_bytes(self) -> int:
        return self._tiles.max_bytes

    @property
    def current_bytes(self) -> int:
        return self._tiles.current_bytes

    def __len__(self) -> int:
        return len(self._tiles)

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self._tiles.max_bytes = max_bytes
            self._tiles.trim(self._tiles.max_bytes)

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()

    def drop(self, predicate: Callable[[Hashable], bool]) -> None:
        """Forget every tile whose key matches, e.g. when a slide is closed."""
        with self._lock:
            self._tiles.discard(predicate)

    def peek(self, key: Hashable) -> np.ndarray | None:
        """The cached tile or None, without reading; counts neither hit nor miss."""
        with self._lock:
            return self._tiles.get(key)

    def get_or_load(self, key: Hashable, load: Callable[[], np.ndarray]) -> np.ndarray:
        """The tile for `key`, loading it once however many threads ask at the same time."""
        with self._lock:
            tile = self._tiles.get(key)
            if tile is not None:
                self.hits += 1
                return tile
            pending = self._pending.get(key)
            owner = pending is None
            if pending is None:
                pending = _Pending()
                self._pending[key] = pending
                self.misses += 1
        if not owner:
            pending.done.wait()
            if pending.error is not None:
                raise pending.error
            assert pending.value is not None
            return pending.value
        try:
            tile = load()
            tile.setflags(write=False)  # shared between readers: nobody may change it
            pending.value = tile
        except BaseException as error:
            pending.error = error
            raise
        finally:
            with self._lock:
                del self._pending[key]
                if pending.value is not None:
                    self._tiles.put(key, pending.value)
            pending.done.set()
        return tile


_shared_cache: TileCache | None = None
_shared_lock = threading.Lock()


def shared_tile_cache() -> TileCache:
    """The one process-wide cache that all slides use unless given their own."""
    global _shared_cache
    with _shared_lock:
        if _shared_cache is None:
            _shared_cache = TileCache()
        return _shared_cache
