"""The shared tile cache: bounded in bytes, least recently used out first, one load per tile."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tilescope.engine.slide import RegionRequest, TileCache, open_slide


def _tile(nbytes: int, value: int = 0) -> np.ndarray:
    return np.full(nbytes, value, dtype=np.uint8)


def test_byte_bound_is_respected() -> None:
    cache = TileCache(max_bytes=10_000)
    for key in range(50):
        cache.get_or_load(key, lambda: _tile(1_000))
        assert cache.current_bytes <= 10_000
    assert len(cache) == 10
    assert cache.current_bytes == 10_000


def test_tile_larger_than_the_cache_is_returned_but_not_kept() -> None:
    cache = TileCache(max_bytes=500)
    tile = cache.get_or_load("big", lambda: _tile(501, 7))
    assert tile.shape == (501,) and tile[0] == 7
    assert len(cache) == 0 and cache.current_bytes == 0


def test_least_recently_used_is_evicted_first() -> None:
    cache = TileCache(max_bytes=3_000)
    for key in "abc":
        cache.get_or_load(key, lambda: _tile(1_000))
    cache.get_or_load("a", lambda: pytest.fail("a is cached"))  # a is now the most recent
    assert cache.peek("b") is not None  # peek counts as use as well: b is now the most recent
    cache.get_or_load("d", lambda: _tile(1_000))
    assert cache.peek("c") is None, "c was the least recently used"
    assert all(cache.peek(key) is not None for key in "abd")
    assert cache.hits == 1 and cache.misses == 4


def test_resize_evicts_down_to_the_new_bound() -> None:
    cache = TileCache(max_bytes=10_000)
    for key in range(8):
        cache.get_or_load(key, lambda: _tile(1_000))
    cache.resize(2_500)
    assert cache.current_bytes <= 2_500
    assert [cache.peek(k) is not None for k in range(8)] == [False] * 6 + [True] * 2


def test_cached_tiles_are_read_only() -> None:
    cache = TileCache(max_bytes=10_000)
    tile = cache.get_or_load("k", lambda: _tile(10))
    with pytest.raises(ValueError):
        tile[0] = 1


def test_many_threads_asking_for_one_tile_load_it_once() -> None:
    cache = TileCache(max_bytes=1 << 20)
    loads = 0
    lock = threading.Lock()
    start = threading.Barrier(16)

    def load() -> np.ndarray:
        nonlocal loads
        with lock:
            loads += 1
        time.sleep(0.5)  # long enough that every thread arrives while the load is in flight
        return _tile(100, 42)

    def ask(_: int) -> np.ndarray:
        start.wait()
        return cache.get_or_load("shared", load)

    with ThreadPoolExecutor(16) as pool:
        tiles = list(pool.map(ask, range(16)))
    assert loads == 1
    assert all(t is tiles[0] for t in tiles)
    assert cache.misses == 1


def test_load_errors_reach_every_waiter_and_are_not_cached() -> None:
    cache = TileCache(max_bytes=1 << 20)
    calls = 0
    start = threading.Barrier(8)

    def failing() -> np.ndarray:
        nonlocal calls
        calls += 1
        time.sleep(0.5)
        raise OSError("decoder broke")

    def ask(_: int) -> BaseException | None:
        start.wait()
        try:
            cache.get_or_load("bad", failing)
        except OSError as error:
            return error
        return None

    with ThreadPoolExecutor(8) as pool:
        errors = list(pool.map(ask, range(8)))
    assert calls == 1
    assert all(isinstance(e, OSError) and "decoder broke" in str(e) for e in errors)
    assert cache.peek("bad") is None and len(cache) == 0
    # The next request tries again and can succeed.
    assert cache.get_or_load("bad", lambda: _tile(3, 9))[0] == 9


def test_max_bytes_zero_disables_caching() -> None:
    cache = TileCache(max_bytes=0)
    loads = 0

    def load() -> np.ndarray:
        nonlocal loads
        loads += 1
        return _tile(10)

    for _ in range(3):
        cache.get_or_load("k", load)
    assert loads == 3
    assert len(cache) == 0 and cache.current_bytes == 0


def test_drop_forgets_matching_keys_and_their_bytes() -> None:
    cache = TileCache(max_bytes=10_000)
    for slide in (1, 2):
        for col in range(3):
            cache.get_or_load((slide, 0, col, 0), lambda: _tile(100))
    cache.drop(lambda key: key[0] == 1)
    assert len(cache) == 3 and cache.current_bytes == 300
    assert cache.peek((2, 0, 0, 0)) is not None


def test_slides_share_a_cache_and_close_drops_their_tiles(tmp_path) -> None:
    from tests.engine.slide import synthetic

    path = synthetic.write_ome_zarr(tmp_path / "a.zarr", [synthetic.pattern(600, 600, 3)])
    cache = TileCache(max_bytes=64 << 20)
    first = open_slide(path, cache=cache)
    second = open_slide(path, cache=cache)
    region = RegionRequest(0, 0, 600, 600)
    np.testing.assert_array_equal(first.read_region(region), second.read_region(region))
    tiles_each = len(cache) // 2
    assert tiles_each == 4  # 600 x 600 in 512-pixel tiles, per open handle
    hits = cache.hits
    first.read_region(region)
    assert cache.hits == hits + 4, "a second read decodes nothing"
    first.close()
    assert len(cache) == tiles_each
    second.close()
    assert len(cache) == 0 and cache.current_bytes == 0
