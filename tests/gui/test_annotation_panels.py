"""Class list and annotation list: visibility seen in rendered pixels, counts and areas by
class, class filter, and a click in the list centring the view on the object."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from PySide6.QtCore import QPointF, Qt

from tests.gui.annotation_helpers import annotated_slide, drag
from tests.gui.helpers import image_to_array, wait_complete
from tilescope.engine.annotations.model import Annotation

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def annotated(qtbot):
    yield from annotated_slide(qtbot)


def grab(view) -> np.ndarray:
    return image_to_array(view.grab().toImage()).astype(int)


def test_class_visibility_hides_objects_in_the_rendered_view(annotated, qtbot):
    view, session, panel = annotated.view, annotated.session, annotated.ui.class_panel
    wait_complete(qtbot, view)
    before = grab(view)
    panel.add_class("Tumor")
    annotated.ui.set_tool("rectangle")
    drag(view, [QPointF(200, 150), QPointF(420, 330)])
    session.clear_selection()  # the selection outline would be drawn whatever the class
    shown = grab(view)
    edge = shown[150, 300]  # the middle of the top edge: Tumor red (200, 0, 0)
    assert edge[0] > 150 and edge[1] < 80 and edge[2] < 80
    assert np.abs(shown - before).max(axis=2).astype(bool).sum() > 400
    panel.set_class_visible("Tumor", False)
    assert not session.styles.is_visible("Tumor")
    hidden = grab(view)
    assert np.array_equal(hidden, before)
    # Per-class opacity and the whole-overlay slider fade it; visibility back shows it.
    panel.set_class_visible("Tumor", True)
    panel.class_opacity.setValue(30)
    faded = grab(view)[150, 300]
    assert abs(faded[0] - before[150, 300][0]) < abs(edge[0] - before[150, 300][0])
    panel.overlay_opacity.setValue(0)
    assert np.array_equal(grab(view), before)


def add_sample_objects(session):
    tumours = [shapely.box(100 + 300 * i, 100, 300 + 300 * i, 300) for i in range(3)]
    session.history.add(
        [Annotation(g, shape_type="rectangle", class_name="Tumor") for g in tumours]
    )
    session.history.add(
        [Annotation(shapely.box(100, 1000, 600, 1400), shape_type="rectangle", class_name="Stroma")]
    )
    session.history.add([Annotation(shapely.Point(50, 50), shape_type="point")])
    nuclei = [shapely.Point(150 + 20 * i, 200).buffer(5) for i in range(7)]
    session.store.add_detections(nuclei, "Nucleus")


def summary_rows(panel) -> dict[str, tuple[str, str]]:
    table = panel.summary
    return {
        table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
        for r in range(table.rowCount())
    }


def test_annotation_list_counts_areas_and_filter(annotated, qtbot):
    session, panel = annotated.session, annotated.ui.list_panel
    add_sample_objects(session)
    qtbot.waitUntil(lambda: panel.list.count() == 5, timeout=3000)
    rows = summary_rows(panel)
    mpp = session.mpp[0]
    assert rows["Tumor"][0] == "3"
    assert rows["Nucleus"][0] == "7"
    assert rows["Stroma"][0] == "1"
    assert rows["Unclassified"][0] == "1"
    assert rows["Tumor"][1] == f"{3 * 200 * 200 * mpp * mpp:,.0f} µm²"
    assert rows["Stroma"][1] == f"{500 * 400 * mpp * mpp:,.0f} µm²"
    # The list is read in a worker thread: wait for it to follow the filter.
    panel.filter.setCurrentText("Tumor")
    qtbot.waitUntil(lambda: panel.list.count() == 3, timeout=3000)
    panel.filter.setCurrentText("Unclassified")
    qtbot.waitUntil(lambda: panel.list.count() == 1, timeout=3000)
    # Deleting through the session updates the counts (one batched refresh).
    panel.filter.setCurrentText("All classes")
    session.select([a.id for a in session.store.query(classes=["Tumor"])])
    session.delete_selected()
    qtbot.waitUntil(lambda: "Tumor" not in summary_rows(panel), timeout=3000)
    qtbot.waitUntil(lambda: panel.list.count() == 2, timeout=3000)


def test_click_in_the_list_centres_the_view(annotated, qtbot):
    session, panel, view = annotated.session, annotated.ui.list_panel, annotated.view
    view.zoom_one_to_one()
    add_sample_objects(session)
    qtbot.waitUntil(lambda: panel.list.count() == 5, timeout=3000)
    stroma = session.store.query(classes=["Stroma"])[0]
    row = panel.ids().index(stroma.id)
    item = panel.list.item(row)
    rect = panel.list.visualItemRect(item)
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    t = view.transform
    assert (t.center_x, t.center_y) == pytest.approx((350, 1200))
    assert session.selection == {stroma.id}
    visible = t.visible_rect()  # zoomed out only as far as needed to show all of it
    x0, y0, x1, y1 = stroma.geometry.bounds
    assert visible.left() <= x0 and visible.top() <= y0
    assert visible.right() >= x1 and visible.bottom() >= y1
    assert t.downsample == pytest.approx(max(1.0, 1.2 * max(500 / t.width, 400 / t.height)))


def test_add_rename_recolour_class_and_hide_all(annotated, qtbot):
    view, session, panel = annotated.view, annotated.session, annotated.ui.class_panel
    panel.add_class("Lesion")
    assert panel.current_class() == "Lesion"
    annotated.ui.set_tool("rectangle")
    drag(view, [QPointF(200, 150), QPointF(420, 330)])
    session.clear_selection()
    panel.set_colour("Lesion", (0, 200, 0))
    assert grab(view)[150, 300].tolist() == pytest.approx([0, 200, 0], abs=40)
    panel.rename_class("Lesion", "Tumour bed")
    assert session.store.count_by_class() == {"Tumour bed": 1}
    assert session.styles.style("Tumour bed").colour == (0, 200, 0)  # the colour moves along
    assert panel.item_for("Lesion") is None and panel.item_for("Tumour bed") is not None
    # "A" hides every annotation (QuPath's key) and shows them again.
    shown = grab(view)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_A)
    assert not annotated.slide.overlay.visible
    assert not np.array_equal(grab(view), shown)
    qtbot.keyClick(view, Qt.Key.Key_A)
    assert np.array_equal(grab(view), shown)


def test_class_dock_starts_with_qupaths_classes_and_keeps_colours_for_every_slide(annotated):
    from tilescope.engine.annotations import class_list

    panel = annotated.ui.class_panel
    names = [panel.list.item(row).text() for row in range(panel.list.count())]
    assert names[:10] == [
        "Unclassified",
        "Tumor",
        "Stroma",
        "Immune cells",
        "Necrosis",
        "Other",
        "Region*",
        "Ignore*",
        "Positive",
        "Negative",
    ]
    icon = panel.item_for("Stroma").icon().pixmap(14, 14).toImage()
    assert icon.pixelColor(7, 7).getRgb()[:3] == (150, 200, 150)
    panel.set_colour("Necrosis", (10, 200, 30))
    assert class_list.known_colour("Necrosis") == (10, 200, 30)  # for every slide
    assert annotated.session.store.class_colour("Necrosis") == (10, 200, 30)
    panel.list.setCurrentItem(panel.item_for("Tumor"))
    assert annotated.session.current_class == "Tumor"
