"""A least-recently-used map bounded by the total size of its values in bytes.

The one LRU core behind the engine's shared tile cache (numpy tiles, with single-flight loads
and a lock on top) and the viewer's per-view cache of paint-ready images. Not thread-safe by
itself: a cache used from several threads holds its own lock around every call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ByteLRU(Generic[K, V]):
    """Values by key, oldest use evicted first once their sizes add up to over `max_bytes`.

    `size_of(value)` gives a value's bytes. With `keep_newest`, the value just put stays even
    when it alone is over the budget (a view always keeps the tile it just drew); without it,
    such a value is not stored at all.
    """

    def __init__(
        self, max_bytes: int, size_of: Callable[[V], int], *, keep_newest: bool = False
    ) -> None:
        self._max_bytes = max(0, max_bytes)
        self._size_of = size_of
        self._keep_newest = keep_newest
        self._values: OrderedDict[K, V] = OrderedDict()
        self._bytes = 0

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        """A new budget; takes effect at the next `put` (or at once through `trim`)."""
        self._max_bytes = max(0, value)

    @property
    def current_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[K]:
        """Keys, least recently used first."""
        return iter(list(self._values))

    def get(self, key: K) -> V | None:
        """The value for `key` (None when absent), marked as just used."""
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
        return value

    def peek(self, key: K) -> V | None:
        """The value for `key` without marking it used."""
        return self._values.get(key)

    def put(self, key: K, value: V) -> bool:
        """Store `value` as the most recently used and evict down to the budget; False when
        it was too big to keep."""
        size = self._size_of(value)
        if size > self._max_bytes and not self._keep_newest:
            return False
        old = self._values.pop(key, None)
        if old is not None:
            self._bytes -= self._size_of(old)
        self._values[key] = value
        self._bytes += size
        self._evict(self._max_bytes, keep=1 if self._keep_newest else 0)
        return True

    def trim(self, max_bytes: int) -> None:
        """Evict least recently used values until at most `max_bytes` remain (the budget stays)."""
        self._evict(max_bytes, keep=0)

    def discard(self, predicate: Callable[[K], bool]) -> None:
        """Forget every value whose key matches."""
        for key in [k for k in self._values if predicate(k)]:
            self._bytes -= self._size_of(self._values.pop(key))

    def clear(self) -> None:
        self._values.clear()
        self._bytes = 0

    def _evict(self, max_bytes: int, keep: int) -> None:
        while self._bytes > max_bytes and len(self._values) > keep:
            _, evicted = self._values.popitem(last=False)
            self._bytes -= self._size_of(evicted)
