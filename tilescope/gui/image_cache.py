"""A per-view LRU of paint-ready QImages, bounded in bytes (the engine cache holds raw tiles)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

from PySide6.QtGui import QImage

DEFAULT_IMAGE_CACHE_BYTES = 192 * 1024 * 1024


class ImageCache:
    """Least-recently-used QImages; `get` marks use, `peek` does not. GUI thread only."""

    def __init__(self, max_bytes: int = DEFAULT_IMAGE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._images: OrderedDict[Hashable, tuple[QImage, int]] = OrderedDict()
        self._bytes = 0

    @property
    def current_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._images)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._images

    def get(self, key: Hashable) -> tuple[QImage, int] | None:
        """(image, generation) for `key`, or None; marks it recently used."""
        entry = self._images.get(key)
        if entry is not None:
            self._images.move_to_end(key)
        return entry

    def peek(self, key: Hashable) -> tuple[QImage, int] | None:
        return self._images.get(key)

    def put(self, key: Hashable, image: QImage, generation: int) -> None:
        old = self._images.pop(key, None)
        if old is not None:
            self._bytes -= old[0].sizeInBytes()
        self._images[key] = (image, generation)
        self._bytes += image.sizeInBytes()
        while self._bytes > self.max_bytes and len(self._images) > 1:
            _, (evicted, _) = self._images.popitem(last=False)
            self._bytes -= evicted.sizeInBytes()

    def trim(self, max_bytes: int) -> None:
        """Evict least-recently-used images until at most `max_bytes` remain (keeps the cap)."""
        while self._bytes > max_bytes and self._images:
            _, (evicted, _) = self._images.popitem(last=False)
            self._bytes -= evicted.sizeInBytes()

    def discard(self, predicate: Callable[[Hashable], bool]) -> None:
        for key in [k for k in self._images if predicate(k)]:
            self._bytes -= self._images.pop(key)[0].sizeInBytes()

    def clear(self) -> None:
        self._images.clear()
        self._bytes = 0
