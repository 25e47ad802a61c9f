"""Shared pieces of the annotation GUI tests: a main window with the demo slide and its
annotation session, and mouse events sent through Qt's event path to the slide view."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tilescope.gui.annotations.session import AnnotationSession
from tilescope.gui.annotations.window_ui import AnnotationUi, SlideAnnotations
from tilescope.gui.main_window import MainWindow
from tilescope.gui.viewer.slide_view import SlideView
from tilescope.resources import demo_slide_path

LEFT = Qt.MouseButton.LeftButton
NO_MODIFIER = Qt.KeyboardModifier.NoModifier


@dataclass
class AnnotatedSlide:
    window: MainWindow
    ui: AnnotationUi
    slide: SlideAnnotations

    @property
    def session(self) -> AnnotationSession:
        return self.slide.session

    @property
    def view(self) -> SlideView:
        return self.slide.view


def open_annotated(qtbot, path: Path | None = None) -> AnnotatedSlide:
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    window.open_paths([path or demo_slide_path()])
    qtbot.waitUntil(lambda: window.annotations.current() is not None, timeout=10000)
    slide = window.annotations.current()
    assert slide is not None
    return AnnotatedSlide(window, window.annotations, slide)


def annotated_slide(qtbot) -> Iterator[AnnotatedSlide]:
    """Body of each test module's `annotated` fixture: the window closes after the test."""
    result = open_annotated(qtbot)
    yield result
    result.window.close()


def widget_point(view: SlideView, x: float, y: float) -> QPointF:
    """Where a level-0 point is in the view's widget coordinates."""
    return QPointF(*view.transform.to_widget(x, y))


def send_mouse(
    view: SlideView,
    kind: QEvent.Type,
    position: QPointF,
    button: Qt.MouseButton = LEFT,
    buttons: Qt.MouseButton | None = None,
    modifiers: Qt.KeyboardModifier = NO_MODIFIER,
) -> None:
    if buttons is None:
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    global_position = QPointF(view.mapToGlobal(position.toPoint()))
    event = QMouseEvent(kind, position, global_position, button, buttons, modifiers)
    QApplication.sendEvent(view, event)


def click(view: SlideView, position: QPointF, modifiers=NO_MODIFIER) -> None:
    send_mouse(view, QEvent.Type.MouseButtonPress, position, modifiers=modifiers)
    send_mouse(view, QEvent.Type.MouseButtonRelease, position, modifiers=modifiers)


def double_click(view: SlideView, position: QPointF) -> None:
    click(view, position)
    send_mouse(view, QEvent.Type.MouseButtonDblClick, position)
    send_mouse(view, QEvent.Type.MouseButtonRelease, position)


def drag(view: SlideView, points: list[QPointF], modifiers=NO_MODIFIER, steps: int = 8) -> None:
    """Press at the first point, move through the others (interpolated), release at the last."""
    send_mouse(view, QEvent.Type.MouseButtonPress, points[0], modifiers=modifiers)
    for a, b in pairwise(points):
        for t in np.linspace(0, 1, steps + 1)[1:]:
            p = QPointF(a.x() + (b.x() - a.x()) * t, a.y() + (b.y() - a.y()) * t)
            send_mouse(view, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, LEFT, modifiers)
    send_mouse(view, QEvent.Type.MouseButtonRelease, points[-1], modifiers=modifiers)
