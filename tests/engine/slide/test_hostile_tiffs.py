"""Property test: a TIFF cut short or with bytes changed anywhere opens and reads, or fails
with one `TilescopeError` line naming the file — never another exception, never a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.slide import synthetic
from tilescope.engine.errors import TilescopeError
from tilescope.engine.slide import TileCache, open_slide


def _pyramid_tiff(path: Path) -> bytes:
    base = synthetic.pattern(300, 340, 3)
    with tifffile.TiffWriter(path) as tif:
        for level, pixels in enumerate([base, base[::2, ::2], base[::4, ::4]]):
            tif.write(
                pixels, tile=(128, 128), compression="jpeg", photometric="rgb",
                subfiletype=1 if level else 0,
            )  # fmt: skip
    return path.read_bytes()


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[int]]:
    """The file and where its structure lies (header, each directory, each tag's values)."""
    path = tmp_path_factory.mktemp("hostile") / "base.tif"
    data = _pyramid_tiff(path)
    places = [0]
    with tifffile.TiffFile(path) as tif:
        for page in tif.pages:
            places.append(page.offset)
            places += [tag.valueoffset for tag in page.tags.values()]
    return data, places


def _read_everything(path: Path) -> None:
    with open_slide(path, cache=TileCache(0)) as slide:
        meta = slide.metadata
        for level, lv in enumerate(meta.levels):
            slide.read_level_region(level, 0, 0, min(lv.width, 400), min(lv.height, 400))
        for name in meta.associated_images:
            slide.associated_image(name)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
    changes=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 40), st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=4,
    ),
)
def test_mangled_tiff_opens_or_fails_in_one_line(tmp_path, original, cut, changes):
    data, places = original
    data = bytearray(data)
    for place, delta, replacement in changes:
        index = min(places[place % len(places)] + delta, len(data) - len(replacement))
        data[index : index + len(replacement)] = replacement
    if cut is not None:
        data = data[: max(1, int(cut * len(data)))]
    path = tmp_path / "mangled.tif"
    path.write_bytes(bytes(data))
    try:
        _read_everything(path)
    except TilescopeError as error:
        message = str(error)
        assert str(path) in message and "\n" not in message, message
