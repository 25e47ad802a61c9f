"""Property test: PNG, JPEG, GIF and BMP files with bytes changed or cut off open and read,
or fail with one `TilescopeError` line naming the file — never another exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.slide import synthetic
from tilescope.engine.errors import TilescopeError
from tilescope.engine.slide import RegionRequest, open_slide

FORMATS = {".png": {}, ".jpg": {"quality": 90}, ".gif": {}, ".bmp": {}}


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("images")
    pixels = synthetic.pattern(90, 120, 3)
    return {
        suffix: synthetic.write_pillow(folder / f"base{suffix}", pixels, **options).read_bytes()
        for suffix, options in FORMATS.items()
    }


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    suffix=st.sampled_from(sorted(FORMATS)),
    cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
    changes=st.lists(
        st.tuples(
            st.one_of(st.integers(0, 64), st.floats(0.0, 1.0)), st.binary(min_size=1, max_size=6)
        ),
        max_size=3,
    ),
)
def test_mangled_image_opens_or_fails_in_one_line(tmp_path, originals, suffix, cut, changes):
    data = bytearray(originals[suffix])
    for where, replacement in changes:
        # Headers are at the start: half the changes aim at the first 64 bytes.
        index = where if isinstance(where, int) else int(where * len(data))
        index = min(index, len(data) - len(replacement))
        data[index : index + len(replacement)] = replacement
    if cut is not None:
        data = data[: max(1, int(cut * len(data)))]
    path = tmp_path / f"mangled{suffix}"
    path.write_bytes(bytes(data))
    try:
        with open_slide(path) as slide:
            meta = slide.metadata
            slide.read_region(RegionRequest(0, 0, meta.width, meta.height, 1.0))
    except TilescopeError as error:
        message = str(error)
        assert str(path) in message and "\n" not in message, message
