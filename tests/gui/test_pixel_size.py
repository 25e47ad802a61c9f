"""Image > Set Pixel Size...: a slide without mpp says so in the status bar; a size set is kept
with the slide's annotations and used at once by the scale bar, the status bar, annotation
areas and measurements, by models (through the engine's precedence), and on the next open."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
import tifffile
from PySide6.QtWidgets import QDialogButtonBox

from tests.gui.window_helpers import open_and_wait, shown_window
from tilescope.engine.annotations.model import Annotation
from tilescope.engine.pixel_size import resolve_pixel_size, stored_mpp
from tilescope.gui.annotations.list_panel import read_listing
from tilescope.gui.viewer.pixel_size import UNKNOWN_TEXT
from tilescope.gui.viewer.pixel_size_dialog import PixelSizeDialog, parse_mpp


@pytest.fixture
def no_mpp_tif(tmp_path: Path) -> Path:
    """A TIFF with no resolution tags: like a PNG/JPEG tile or a TCGA SVS without MPP."""
    path = tmp_path / "tile.tif"
    tifffile.imwrite(path, np.full((400, 500, 3), 235, np.uint8), photometric="rgb")
    return path


@pytest.fixture
def half_micron_ome(tmp_path: Path) -> Path:
    path = tmp_path / "half.ome.tif"
    tifffile.imwrite(
        path,
        np.full((300, 400, 3), 200, np.uint8),
        photometric="rgb",
        ome=True,
        metadata={"axes": "YXS", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5},
    )
    return path


@pytest.fixture
def window(qtbot):
    yield from shown_window(qtbot)


def test_typed_sizes_are_checked_like_mpp_arguments():
    assert parse_mpp(" 0.25 ") == 0.25
    assert parse_mpp("0,5") == 0.5  # a decimal comma, as typed in many locales
    assert "not a number" in str(parse_mpp("quarter"))
    assert "between 0.05 and 50" in str(parse_mpp("0.01"))
    assert "between 0.05 and 50" in str(parse_mpp("nan"))
    assert "type a pixel size" in str(parse_mpp(""))


def test_a_slide_without_mpp_says_so_and_a_set_size_is_used_everywhere(qtbot, window, no_mpp_tif):
    open_and_wait(qtbot, window, no_mpp_tif)
    tab = window.current_tab()
    session = window.annotations.current().session
    assert window.status.pixel_size.text() == UNKNOWN_TEXT
    assert tab.scale_bar.label().endswith("px")
    session.store.add(Annotation(shapely.box(0, 0, 100, 100)))
    assert read_listing(session, None).object_areas == [10000.0]  # px²

    assert window.apply_pixel_size(tab, 0.5)
    assert tab.view.source.metadata.mpp == (0.5, 0.5)
    assert window.status.pixel_size.text() == "0.5 µm/px (set for this slide)"
    assert tab.scale_bar.label().endswith("µm")
    assert session.mpp == (0.5, 0.5)
    assert window.annotations.list_panel.unit() == "µm²"
    listing = read_listing(session, None)
    assert listing.object_areas == [2500.0]  # µm²
    assert listing.areas == {None: 2500.0}
    window.status._show_position((100.0, 40.0))
    assert "(50.0, 20.0 µm)" in window.status.position.text()
    # Kept with the slide's annotations, where `infer` and GUI model runs find it.
    assert stored_mpp(no_mpp_tif) == 0.5
    assert resolve_pixel_size(no_mpp_tif, None).origin == "stored"

    # Opened again (a second tab here, as after a restart): the size applies at once.
    open_and_wait(qtbot, window, no_mpp_tif)
    again = window.current_tab()
    assert again is not tab
    assert again.view.source.metadata.mpp == (0.5, 0.5)
    assert window.status.pixel_size.text() == "0.5 µm/px (set for this slide)"

    # Forget: every tab of the file goes back to the file's (unknown) size.
    assert window.apply_pixel_size(again, None)
    assert stored_mpp(no_mpp_tif) is None
    for each in (tab, again):
        assert each.view.source.metadata.mpp is None
        assert each.scale_bar.label().endswith("px")
    assert window.status.pixel_size.text() == UNKNOWN_TEXT
    assert session.mpp is None


def test_a_set_size_overrides_the_files_and_forgetting_restores_it(qtbot, window, half_micron_ome):
    open_and_wait(qtbot, window, half_micron_ome)
    tab = window.current_tab()
    assert window.status.pixel_size.text() == "0.5 µm/px (from the file)"
    assert window.apply_pixel_size(tab, 0.25)
    assert tab.view.source.metadata.mpp == (0.25, 0.25)
    assert window.apply_pixel_size(tab, None)
    assert tab.view.source.metadata.mpp == (0.5, 0.5)
    assert window.status.pixel_size.text() == "0.5 µm/px (from the file)"


def test_the_dialog_accepts_only_a_usable_size(qtbot, window, no_mpp_tif):
    open_and_wait(qtbot, window, no_mpp_tif)
    dialog = window.ask_pixel_size()
    assert isinstance(dialog, PixelSizeDialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()  # nothing typed yet
    assert not dialog.forget.isEnabled()  # nothing set yet to forget
    dialog.value.setText("500")
    assert not ok.isEnabled()
    assert "between 0.05 and 50" in dialog.problem.text()
    dialog.value.setText("0.2527")
    assert ok.isEnabled() and dialog.problem.text() == ""
    ok.click()
    assert window.current_tab().view.source.metadata.mpp == (0.2527, 0.2527)
    assert stored_mpp(no_mpp_tif) == 0.2527

    again = window.ask_pixel_size()
    assert again.value.text() == "0.2527" and again.forget.isEnabled()
    again.forget.click()
    assert window.current_tab().view.source.metadata.mpp is None
    assert window.status.pixel_size.text() == UNKNOWN_TEXT


def test_image_menu_offers_set_pixel_size(window):
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions() if a.menu()}
    entries = [a.text() for a in menus["Image"].actions()]
    assert "Set &Pixel Size…" in entries
    assert not window.set_pixel_size_action.isEnabled()  # no slide open
