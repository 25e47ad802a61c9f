"""The runner's seam filter: one object seen by two tiles is written once, first tile wins."""

from __future__ import annotations

from shapely.geometry import box

from tilescope.engine.annotations.model import Annotation
from tilescope.engine.inference.seams import SeamFilter
from tilescope.engine.inference.types import TileInfo


def square(x: float, y: float, size: float, score: float) -> Annotation:
    return Annotation(box(x, y, x + size, y + size), score=score)


def tile(index: int, x: float) -> TileInfo:
    """100 x 100 px tiles side by side at downsample 1, cores without overlap."""
    return TileInfo(
        index=index, x=x, y=0, width=100, height=100, downsample=1.0, core=(0, 0, 100, 100)
    )


def ids(objects: list[Annotation]) -> list[str]:
    return [o.id for o in objects]


def test_the_second_tiles_copy_at_the_seam_is_dropped() -> None:
    seams = SeamFilter()
    first = square(95, 40, 10, 0.7)  # straddles the seam at x = 100
    copy = square(96, 40, 10, 0.9)  # the neighbour's outline of it (IoU 0.82)
    other = square(130, 40, 10, 0.8)
    assert ids(seams.keep(tile(0, 0), [first])) == [first.id]
    assert ids(seams.keep(tile(1, 100), [copy, other])) == [other.id]
    assert seams.dropped == 1


def test_neighbours_that_only_touch_are_kept() -> None:
    seams = SeamFilter()
    left, right = square(90, 40, 10, 0.9), square(100, 40, 10, 0.9)
    assert ids(seams.keep(tile(0, 0), [left])) == [left.id]
    assert ids(seams.keep(tile(1, 100), [right])) == [right.id]


def test_within_a_tile_the_higher_score_wins_and_order_is_kept() -> None:
    a = square(10, 10, 10, 0.6)
    b = square(11, 10, 10, 0.9)  # IoU 0.82 with a
    c = square(20, 10, 10, 0.5)  # IoU with b 1/19: kept
    d = square(40, 40, 10, 0.7)
    assert ids(SeamFilter().keep(tile(0, 0), [a, b, c, d])) == [b.id, c.id, d.id]


def test_dropped_objects_do_not_drop_others() -> None:
    # b is a copy of a; c overlaps b (IoU > 0.5) but not a: c must stay.
    a, b, c = square(10, 10, 10, 0.9), square(13, 10, 10, 0.8), square(16, 10, 10, 0.7)
    assert ids(SeamFilter().keep(tile(0, 0), [a, b, c])) == [a.id, c.id]


def test_ties_keep_the_earlier_object() -> None:
    a, b = square(10, 10, 10, 0.8), square(10.5, 10, 10, 0.8)
    assert ids(SeamFilter().keep(tile(0, 0), [a, b])) == [a.id]
    assert ids(SeamFilter().keep(tile(0, 0), [b, a])) == [b.id]
