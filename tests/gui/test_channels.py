"""Multichannel fluorescence: automatic ranges, per-channel visibility/colour/range, on a real
pyramidal OME-TIFF written by the test."""

from __future__ import annotations

from tests.gui.helpers import image_to_array, wait_complete
from tilescope.engine.slide import open_slide
from tilescope.gui.viewer.slide_tab import SlideTab


def _pixel(view, x: float, y: float):
    pixels = image_to_array(view.render_image())
    wx, wy = view.transform.to_widget(x, y)
    return pixels[int(wy), int(wx)].astype(int)


def test_channels_panel_controls_the_composite(qtbot, multichannel_ome_tiff):
    tab = SlideTab(open_slide(multichannel_ome_tiff))
    qtbot.addWidget(tab)
    tab.resize(1000, 600)
    tab.show()
    view, panel = tab.view, tab.channels
    assert panel is not None
    qtbot.waitUntil(lambda: view.display_settings() is not None, timeout=8000)
    wait_complete(qtbot, view)
    display = view.display_settings()
    assert [c.name for c in display.channels] == ["DAPI", "FITC", "Cy5"]
    dapi = display.channels[0]
    assert dapi.color == (0, 120, 255)
    assert 150 <= dapi.minimum <= 250 and 2900 <= dapi.maximum <= 3000  # percentiles
    # Inside the DAPI disc on a FITC stripe (x // 64 even), top rows (Cy5 dim): blue + green.
    inside = _pixel(view, 300, 300)
    assert inside[2] > 200 and inside[1] > 200
    checks = [row[0] for row in panel._rows]
    checks[1].setChecked(False)  # hide FITC
    wait_complete(qtbot, view)
    hidden = _pixel(view, 300, 300)
    assert hidden[1] <= 125 and hidden[2] > 200  # only DAPI's own green (0, 120, 255) is left
    high = panel._rows[0][3]
    high.setValue(30000.0)  # DAPI range up: the disc dims
    wait_complete(qtbot, view)
    assert view.display_settings().channels[0].maximum == 30000.0
    assert _pixel(view, 300, 300)[2] < hidden[2] - 100  # Cy5 (magenta) still adds some blue
    panel.reset_to_auto()
    wait_complete(qtbot, view)
    assert view.display_settings().channels[1].visible
    assert _pixel(view, 300, 300)[1] > 200
    tab.close_slide()
