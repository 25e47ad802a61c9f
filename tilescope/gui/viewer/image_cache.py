"""A per-view LRU of paint-ready QImages, bounded in bytes (the engine cache holds raw tiles)."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from PySide6.QtGui import QImage

from tilescope.engine.byte_lru import ByteLRU

DEFAULT_IMAGE_CACHE_BYTES = 192 * 1024 * 1024

Entry = tuple[QImage, int]  # an image and the display generation it was rendered for


def _entry_bytes(entry: Entry) -> int:
    return int(entry[0].sizeInBytes())


class ImageCache:
    """Least-recently-used QImages; `get` marks use, `peek` does not. GUI thread only.

    The image just put always stays, even over the budget: the view is about to draw it."""

    def __init__(self, max_bytes: int = DEFAULT_IMAGE_CACHE_BYTES) -> None:
        self._lru: ByteLRU[Hashable, Entry] = ByteLRU(max_bytes, _entry_bytes, keep_newest=True)

    @property
    def max_bytes(self) -> int:
        return self._lru.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self._lru.max_bytes = value

    @property
    def current_bytes(self) -> int:
        return self._lru.current_bytes

    def __len__(self) -> int:
        return len(self._lru)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._lru

    def get(self, key: Hashable) -> Entry | None:
        """(image, generation) for `key`, or None; marks it recently used."""
        return self._lru.get(key)

    def peek(self, key: Hashable) -> Entry | None:
        return self._lru.peek(key)

    def put(self, key: Hashable, image: QImage, generation: int) -> None:
        self._lru.put(key, (image, generation))

    def trim(self, max_bytes: int) -> None:
        """Evict least-recently-used images until at most `max_bytes` remain (keeps the cap)."""
        self._lru.trim(max_bytes)

    def discard(self, predicate: Callable[[Hashable], bool]) -> None:
        self._lru.discard(predicate)

    def clear(self) -> None:
        self._lru.clear()
