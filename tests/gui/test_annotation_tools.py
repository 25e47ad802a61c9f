"""Drawing and editing tools driven by mouse events through the real view: the objects land
in the store with the right level-0 geometry, and edits undo as one step each."""

from __future__ import annotations

import math

import pytest
import shapely
from PySide6.QtCore import QEvent, QPointF, Qt

from tests.gui.annotation_helpers import (
    annotated_slide,
    click,
    double_click,
    drag,
    send_mouse,
    widget_point,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def annotated(qtbot):
    yield from annotated_slide(qtbot)


def only_object(session):
    objects = list(session.store.iter_all())
    assert len(objects) == 1
    return objects[0]


def test_rectangle_drag_stores_level0_box(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("rectangle")
    drag(view, [QPointF(200, 150), QPointF(420, 330)])
    rect = only_object(session)
    x0, y0 = view.transform.to_level0(200, 150)
    x1, y1 = view.transform.to_level0(420, 330)
    assert rect.shape_type == "rectangle"
    assert rect.geometry.bounds == pytest.approx((x0, y0, x1, y1))
    assert rect.geometry.area == pytest.approx((x1 - x0) * (y1 - y0))
    assert session.selection == {rect.id}


def test_ellipse_with_shift_is_a_circle(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("ellipse")
    drag(
        view,
        [QPointF(300, 300), QPointF(400, 360)],
        modifiers=Qt.KeyboardModifier.ShiftModifier,
    )
    ellipse = only_object(session)
    x0, y0 = view.transform.to_level0(300, 300)
    x1, _ = view.transform.to_level0(400, 360)
    radius = (x1 - x0) / 2
    assert ellipse.shape_type == "ellipse"
    assert ellipse.geometry.bounds == pytest.approx((x0, y0, x1, y0 + 2 * radius))
    assert ellipse.geometry.area == pytest.approx(math.pi * radius**2, rel=0.01)


def test_polygon_clicks_and_double_click(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("polygon")
    corners = [QPointF(200, 200), QPointF(400, 200), QPointF(400, 380)]
    for corner in corners[:-1]:
        click(view, corner)
    double_click(view, corners[-1])
    polygon = only_object(session)
    expected = shapely.Polygon([view.transform.to_level0(p.x(), p.y()) for p in corners])
    assert polygon.shape_type == "polygon"
    assert polygon.geometry.symmetric_difference(expected).area < 1e-6 * expected.area


def test_polygon_enter_closes_and_backspace_removes_a_vertex(annotated, qtbot):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("polygon")
    tool = annotated.ui.active_tool()
    a, b, c, stray = QPointF(200, 200), QPointF(420, 210), QPointF(300, 400), QPointF(700, 90)
    for corner in (a, b, stray):
        click(view, corner)
    qtbot.keyClick(view, Qt.Key.Key_Backspace)  # takes back the vertex, deletes nothing
    assert len(tool.vertices) == 2
    click(view, c)
    click(view, stray)
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(tool.vertices) == 3
    assert session.store.count() == 0
    qtbot.keyClick(view, Qt.Key.Key_Return)
    polygon = only_object(session)
    expected = shapely.Polygon([view.transform.to_level0(p.x(), p.y()) for p in (a, b, c)])
    assert polygon.geometry.symmetric_difference(expected).area < 1e-6 * expected.area
    # Escape drops a polygon in progress.
    click(view, a)
    click(view, b)
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert tool.vertices == []
    assert session.store.count() == 1


def test_point_click(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("point")
    click(view, QPointF(321, 234))
    point = only_object(session)
    assert point.shape_type == "point"
    assert (point.geometry.x, point.geometry.y) == pytest.approx(view.transform.to_level0(321, 234))


def test_freehand_trace(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("freehand")
    centre = QPointF(400, 300)
    ring = [
        QPointF(centre.x() + 100 * math.cos(a), centre.y() + 100 * math.sin(a))
        for a in [i * 2 * math.pi / 40 for i in range(41)]
    ]
    drag(view, ring, steps=2)
    shape = only_object(session)
    radius = 100 * view.transform.downsample
    assert shape.geometry.area == pytest.approx(math.pi * radius**2, rel=0.03)


def test_brush_adds_and_eraser_removes_area(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("brush")
    drag(view, [QPointF(300, 300), QPointF(500, 300)])
    stroke = only_object(session)
    radius = 20 * view.transform.downsample
    length = 200 * view.transform.downsample
    assert stroke.geometry.area == pytest.approx(
        2 * radius * length + math.pi * radius**2, rel=0.02
    )
    # A second stroke touching the selected region grows it (union), still one object.
    drag(view, [QPointF(500, 300), QPointF(500, 450)])
    grown = only_object(session)
    assert grown.id == stroke.id and grown.geometry.area > stroke.geometry.area * 1.3
    # The eraser cuts across: less area, same object.
    annotated.ui.set_tool("eraser")
    drag(view, [QPointF(400, 250), QPointF(400, 350)])
    cut = only_object(session)
    assert cut.id == stroke.id
    assert cut.geometry.area < grown.geometry.area - 1.5 * radius * 2 * radius
    assert cut.geometry.geom_type == "MultiPolygon"  # the stroke was cut in two
    # Each stroke is one undo step.
    session.undo()
    assert only_object(session).geometry.area == pytest.approx(grown.geometry.area)


def test_alt_on_brush_erases(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("rectangle")
    drag(view, [QPointF(200, 200), QPointF(500, 400)])
    before = only_object(session).geometry.area
    annotated.ui.set_tool("brush")
    drag(view, [QPointF(350, 150), QPointF(350, 450)], modifiers=Qt.KeyboardModifier.AltModifier)
    assert only_object(session).geometry.area < before


def test_select_delete_undo_redo(annotated, qtbot):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("rectangle")
    drag(view, [QPointF(100, 100), QPointF(200, 200)])
    drag(view, [QPointF(300, 100), QPointF(400, 200)])
    drag(view, [QPointF(500, 100), QPointF(600, 200)])
    assert session.store.count() == 3
    annotated.ui.set_tool("select")
    click(view, QPointF(150, 150))
    click(view, QPointF(350, 150), modifiers=Qt.KeyboardModifier.ShiftModifier)
    assert len(session.selection) == 2
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert session.store.count() == 1
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert session.store.count() == 3
    annotated.ui.redo()
    assert session.store.count() == 1
    # Rubber band around all: everything inside is selected.
    annotated.ui.undo()
    drag(view, [QPointF(50, 50), QPointF(650, 250)])
    assert len(session.selection) == 3
    click(view, QPointF(700, 500))  # nothing there: clears
    assert not session.selection


def test_move_tool_drags_the_selection(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("rectangle")
    drag(view, [QPointF(200, 200), QPointF(300, 300)])
    before = only_object(session)
    annotated.ui.set_tool("move")
    drag(view, [QPointF(250, 250), QPointF(310, 270)])
    after = only_object(session)
    ds = view.transform.downsample
    dx = after.geometry.bounds[0] - before.geometry.bounds[0]
    dy = after.geometry.bounds[1] - before.geometry.bounds[1]
    assert (dx, dy) == pytest.approx((60 * ds, 20 * ds))
    # Dragging where nothing is selected pans the view instead.
    centre = view.transform.center_x
    drag(view, [QPointF(600, 500), QPointF(650, 500)])
    assert view.transform.center_x != centre
    assert only_object(session).geometry.equals(after.geometry)


def test_edit_vertex(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("rectangle")
    drag(view, [QPointF(200, 200), QPointF(300, 300)])
    annotated.ui.set_tool("edit")
    drag(view, [QPointF(300, 300), QPointF(350, 320)])
    edited = only_object(session)
    corner = view.transform.to_level0(350, 320)
    coords = [tuple(c) for c in shapely.get_coordinates(edited.geometry)]
    assert any(c == pytest.approx(corner) for c in coords)
    assert edited.geometry.is_valid


def test_set_class_of_selection(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("rectangle")
    drag(view, [QPointF(200, 200), QPointF(300, 300)])
    panel = annotated.ui.class_panel
    panel.add_class("Tumor")
    assert panel.set_class_of_selection() == 1
    assert only_object(session).class_name == "Tumor"
    assert session.styles.style("Tumor").colour == (200, 0, 0)  # QuPath's Tumor colour
    # The current class is given to new objects.
    drag(view, [QPointF(400, 200), QPointF(500, 300)])
    assert session.store.count_by_class() == {"Tumor": 2}


def test_middle_button_pans_in_a_drawing_tool(annotated):
    view, session = annotated.view, annotated.session
    annotated.ui.set_tool("rectangle")
    centre = view.transform.center_x
    middle = Qt.MouseButton.MiddleButton
    send_mouse(view, QEvent.Type.MouseButtonPress, QPointF(300, 300), middle)
    send_mouse(view, QEvent.Type.MouseMove, QPointF(360, 300), Qt.MouseButton.NoButton, middle)
    send_mouse(view, QEvent.Type.MouseButtonRelease, QPointF(360, 300), middle)
    assert view.transform.center_x != centre
    assert session.store.count() == 0
    assert widget_point(view, *view.transform.to_level0(10, 20)).x() == pytest.approx(10)
