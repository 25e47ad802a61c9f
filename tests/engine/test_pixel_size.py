"""Pixel size precedence: the command's --mpp, then the size set for the slide, then the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tilescope.engine.errors import InputError, TilescopeError
from tilescope.engine.pixel_size import (
    apply_pixel_size,
    resolve_pixel_size,
    set_stored_mpp,
    stored_mpp,
)
from tilescope.engine.slide.opener import open_slide
from tilescope.resources import resource_path


@pytest.fixture
def demo_slide() -> Path:
    return next(resource_path("slides").glob("*.svs"))


def test_file_then_stored_then_argument(demo_slide: Path) -> None:
    with open_slide(demo_slide) as slide:
        file_mpp = slide.metadata.mpp
        size = apply_pixel_size(slide)
    assert size.origin == "file" and size.mpp == pytest.approx(file_mpp[0])
    assert stored_mpp(demo_slide) is None

    set_stored_mpp(demo_slide, 0.3)
    with open_slide(demo_slide) as slide:
        size = apply_pixel_size(slide)
        assert slide.metadata.mpp == (0.3, 0.3)
    assert size.origin == "stored" and "set for this slide" in size.describe()

    with open_slide(demo_slide) as slide:
        size = apply_pixel_size(slide, 0.25)
        assert slide.metadata.mpp == (0.25, 0.25)
    assert size.origin == "argument"

    set_stored_mpp(demo_slide, None)
    assert resolve_pixel_size(demo_slide, None).origin == "none"


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), 1e300, 1e-300])
def test_implausible_pixel_sizes_are_refused_in_one_line(demo_slide: Path, bad: float) -> None:
    with pytest.raises(InputError, match="--mpp: pixel size must be") as caught:
        resolve_pixel_size(demo_slide, None, bad)
    assert isinstance(caught.value, TilescopeError)
    assert "\n" not in str(caught.value)
