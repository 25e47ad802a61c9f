"""Property test: OME-Zarr metadata with any value in any field opens and reads, or fails
with one `TilescopeError` line naming the folder — never another exception."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.slide import synthetic
from tests.hostile_documents import any_value, set_at
from tilescope.engine.errors import TilescopeError
from tilescope.engine.slide import TileCache, open_slide

_values = any_value(keys=st.text(max_size=6), text_size=8, dict_size=3, max_leaves=10)
#: Paths into the .zattrs document a mutation may replace.
_FIELDS = [
    ("multiscales",),
    ("multiscales", 0),
    ("multiscales", 0, "axes"),
    ("multiscales", 0, "axes", 0),
    ("multiscales", 0, "axes", 1, "unit"),
    ("multiscales", 0, "axes", 2, "type"),
    ("multiscales", 0, "datasets"),
    ("multiscales", 0, "datasets", 0, "path"),
    ("multiscales", 0, "datasets", 1, "coordinateTransformations"),
    ("multiscales", 0, "datasets", 0, "coordinateTransformations", 0, "scale"),
    ("multiscales", 0, "coordinateTransformations"),
    ("multiscales", 0, "version"),
    ("omero",),
    ("omero", "channels"),
    ("omero", "channels", 0, "color"),
    ("omero", "channels", 0, "window"),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("zarr") / "base.zarr"
    return synthetic.write_ome_zarr(root, synthetic.pyramid(synthetic.pattern(96, 80, 2), 2))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.lists(st.tuples(st.sampled_from(_FIELDS), _values), min_size=1, max_size=3))
def test_any_metadata_value_opens_or_fails_in_one_line(tmp_path, template, edits):
    root = tmp_path / "mangled.zarr"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(template, root)
    attrs = json.loads((root / ".zattrs").read_text())
    for path, value in edits:
        set_at(attrs, path, value)
    (root / ".zattrs").write_text(json.dumps(attrs))
    try:
        with open_slide(root, cache=TileCache(0)) as slide:
            meta = slide.metadata
            for level, lv in enumerate(meta.levels):
                slide.read_level_region(level, 0, 0, min(lv.width, 64), min(lv.height, 64))
            json.dumps(meta.to_json(str(root)), allow_nan=False)  # info --json stays JSON
    except TilescopeError as error:
        message = str(error)
        assert str(root) in message and "\n" not in message, message
