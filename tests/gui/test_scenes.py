"""Every scene of a multi-scene file and every page of a multi-page TIFF document is reachable
in the GUI (the scene selector in the tab bar, Image > Next/Previous Scene), and each scene
keeps its own annotations. Files are written here with tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
import tifffile

from tests.gui.window_helpers import open_and_wait, shown_window
from tilescope.engine.annotations.model import Annotation
from tilescope.engine.annotations.store import existing_store_path, store_file_name
from tilescope.engine.slide import RegionRequest
from tilescope.gui.main_window import MainWindow

PAGE_COLOURS = [(200, 30, 30), (30, 160, 40), (40, 60, 200)]


@pytest.fixture
def document(tmp_path: Path) -> Path:
    """A scanned 3-page document: two portrait pages and a landscape one, one colour each."""
    path = tmp_path / "letter.tif"
    with tifffile.TiffWriter(path) as tif:
        for (h, w), colour in zip([(800, 600), (800, 600), (600, 800)], PAGE_COLOURS, strict=True):
            page = np.full((h, w, 3), 255, np.uint8)
            page[100:300, 100:300] = colour
            tif.write(page, photometric="rgb", resolution=(300, 300), resolutionunit="INCH")
    return path


@pytest.fixture
def two_scene_ome(tmp_path: Path) -> Path:
    """An OME-TIFF with two Images (scenes) of different sizes."""
    path = tmp_path / "two.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for shape, colour in (((512, 640), PAGE_COLOURS[0]), ((300, 400), PAGE_COLOURS[1])):
            tif.write(
                np.full((*shape, 3), colour, np.uint8),
                photometric="rgb",
                metadata={"axes": "YXS", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5},
            )
    return path


@pytest.fixture
def window(qtbot):
    yield from shown_window(qtbot)


def _switch(qtbot, window: MainWindow, scene: int) -> None:
    window.show_scene(scene)
    qtbot.waitUntil(
        lambda: (
            (tab := window.current_tab()) is not None
            and tab.view.source.scene == scene
            and window.annotations.current() is not None
        ),
        timeout=10000,
    )


def _centre_colour(window: MainWindow) -> tuple[int, ...]:
    source = window.current_tab().view.source
    pixels = source.read_region(RegionRequest(150, 150, 100, 100))
    return tuple(int(v) for v in pixels[50, 50, :3])


def test_every_page_of_a_document_is_shown_in_place_with_the_selector(qtbot, window, document):
    open_and_wait(qtbot, window, document)
    assert window.scenes.isVisible()
    assert [window.scenes.combo.itemText(i) for i in range(window.scenes.combo.count())] == [
        "Scene 0 of 3",
        "Scene 1 of 3",
        "Scene 2 of 3",
    ]
    assert window.tabs.tabText(0) == "letter.tif · scene 0"
    assert _centre_colour(window) == PAGE_COLOURS[0]
    for scene in (2, 1):
        _switch(qtbot, window, scene)
        assert window.tabs.count() == 1  # the page replaces the tab's content, no new tab
        assert window.tabs.tabText(0) == f"letter.tif · scene {scene}"
        assert window.scenes.current_scene() == scene
        assert _centre_colour(window) == PAGE_COLOURS[scene]
    meta = window.current_tab().view.source.metadata
    assert (meta.width, meta.height) == (600, 800)


def test_the_selector_and_the_image_menu_step_through_scenes(qtbot, window, two_scene_ome):
    open_and_wait(qtbot, window, two_scene_ome)
    assert window.next_scene_action.isEnabled()
    window.next_scene_action.trigger()
    qtbot.waitUntil(lambda: window.current_tab().view.source.scene == 1, timeout=10000)
    assert window.current_tab().view.source.metadata.width == 400
    window.next_scene_action.trigger()  # already the last: stays
    window.scenes.combo.activated.emit(0)  # the user picks scene 0 in the combo box
    qtbot.waitUntil(lambda: window.current_tab().view.source.scene == 0, timeout=10000)
    assert window.current_tab().view.source.metadata.width == 640
    assert window.tabs.count() == 1


def test_each_scene_keeps_its_own_annotations(qtbot, window, document):
    open_and_wait(qtbot, window, document)
    first = window.annotations.current().session.store
    first.add(Annotation(shapely.box(100, 100, 300, 300), class_name="Tumor"))
    _switch(qtbot, window, 1)
    second = window.annotations.current().session.store
    assert second.path != first.path
    assert second.count() == 0  # page 1 does not show page 0's object
    second.add(Annotation(shapely.box(10, 10, 20, 20)))
    second.add(Annotation(shapely.box(30, 30, 40, 40)))
    _switch(qtbot, window, 0)
    store = window.annotations.current().session.store
    assert store.count() == 1
    assert store.query()[0].class_name == "Tumor"
    # Stored by the slide's identity: scene 0 is the file's store (as before scenes existed).
    assert existing_store_path(document) == store.path
    assert existing_store_path(document, scene=1) == second.path
    assert existing_store_path(document, scene=2) is None  # never opened: nothing created


def test_a_single_scene_file_shows_no_selector(qtbot, window, demo_path):
    open_and_wait(qtbot, window, demo_path)
    meta = window.current_tab().view.source.metadata
    assert meta.scene_count == 1
    assert not window.scenes.isVisible()
    assert window.tabs.tabText(0) == demo_path.name
    assert not window.next_scene_action.isEnabled()


def test_label_macro_and_thumbnail_pages_are_not_scenes(qtbot, window, tmp_path):
    """An Aperio-style SVS: tiled levels plus thumbnail, label and macro strips."""
    path = tmp_path / "slide.svs"
    base = np.full((1024, 1024, 3), 220, np.uint8)
    description = "Aperio Image Library v12.0.15\r\n1024x1024 [0,0 1024x1024] (256x256) |MPP = 0.5"
    with tifffile.TiffWriter(path) as tif:
        tif.write(base, photometric="rgb", tile=(256, 256), description=description)
        tif.write(np.full((128, 128, 3), 200, np.uint8), photometric="rgb")  # thumbnail
        tif.write(base[::2, ::2], photometric="rgb", tile=(256, 256), description=description)
        for name in ("label", "macro"):
            tif.write(
                np.full((100, 200, 3), 90, np.uint8),
                photometric="rgb",
                description=f"Aperio Image Library v12.0.15\r\n{name} 200x100",
            )
    open_and_wait(qtbot, window, path)
    meta = window.current_tab().view.source.metadata
    assert set(meta.associated_images) >= {"thumbnail", "label", "macro"}
    assert meta.scene_count == 1
    assert not window.scenes.isVisible()


def test_store_names_per_scene():
    assert store_file_name("ab" * 16) == "ab" * 16 + ".tilescope-annotations.sqlite"
    assert store_file_name("ab" * 16, 3) == "ab" * 16 + ".scene3.tilescope-annotations.sqlite"
    with pytest.raises(ValueError):
        store_file_name("ab" * 16, -1)
