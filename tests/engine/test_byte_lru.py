"""engine/byte_lru.py: the LRU core of the engine's tile cache and the view's image cache."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tilescope.engine.byte_lru import ByteLRU


def sized(max_bytes: int, *, keep_newest: bool = False) -> ByteLRU[str, bytes]:
    return ByteLRU(max_bytes, len, keep_newest=keep_newest)


def test_the_least_recently_used_value_goes_first():
    lru = sized(30)
    for key in "abc":
        lru.put(key, b"x" * 10)
    assert lru.get("a") == b"x" * 10  # "a" is now the most recent
    lru.put("d", b"y" * 10)
    assert list(lru) == ["c", "a", "d"]  # "b" went
    assert lru.current_bytes == 30


def test_peek_does_not_mark_use():
    lru = sized(20)
    lru.put("a", b"1" * 10)
    lru.put("b", b"2" * 10)
    assert lru.peek("a") == b"1" * 10
    lru.put("c", b"3" * 10)
    assert "a" not in lru and "b" in lru


def test_a_value_over_the_budget_is_refused_unless_the_newest_is_kept():
    refusing = sized(10)
    assert not refusing.put("big", b"z" * 11)
    assert len(refusing) == 0 and refusing.current_bytes == 0
    keeping = sized(10, keep_newest=True)
    keeping.put("small", b"s" * 5)
    assert keeping.put("big", b"z" * 11)
    assert list(keeping) == ["big"] and keeping.current_bytes == 11


def test_replacing_a_key_counts_its_bytes_once():
    lru = sized(100)
    lru.put("a", b"1" * 40)
    lru.put("a", b"2" * 10)
    assert lru.current_bytes == 10 and len(lru) == 1


def test_trim_discard_and_clear_keep_the_byte_count_true():
    lru = sized(100)
    for i in range(10):
        lru.put(f"k{i}", b"v" * 10)
    lru.trim(35)
    assert list(lru) == ["k7", "k8", "k9"] and lru.current_bytes == 30
    assert lru.max_bytes == 100  # trimming keeps the budget
    lru.discard(lambda key: key != "k8")
    assert list(lru) == ["k8"] and lru.current_bytes == 10
    lru.clear()
    assert len(lru) == 0 and lru.current_bytes == 0


@given(
    st.integers(0, 200),
    st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 60)), max_size=60),
)
def test_the_total_never_exceeds_the_budget_and_always_matches_the_values(budget, puts):
    lru = sized(budget)
    for key, size in puts:
        lru.put(key, b"b" * size)
        assert lru.current_bytes <= budget
        assert lru.current_bytes == sum(len(lru.peek(k) or b"") for k in lru)
