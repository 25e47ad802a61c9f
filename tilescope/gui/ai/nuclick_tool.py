"""The NuClick tool: click inside a nucleus to get its outline; Shift+clicks queue a batch;
a drag draws a squiggle inside an object; undo removes the last result.

Segmentation runs on one worker thread against the view's slide (slide reads are
thread-safe) with the NuClick API, which reads a small patch at the model's mpp, so the tool
works at any zoom. The session is created and warmed up when the tool is activated, so a
click costs one small `session.run` (tens of ms). Results are added through the annotation
session's `EditHistory` as one undoable step per click or batch; outlines already on the
slide near a click go into the exclusion map, so touching nuclei stay apart.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import shapely
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPen, QPolygonF

from tilescope.engine.annotations.model import Annotation, ObjectKind
from tilescope.engine.inference.results import adopt_class_colours
from tilescope.engine.inference.types import Prompt
from tilescope.gui.annotations.overlay_layer import AnnotationOverlay
from tilescope.gui.annotations.session import AnnotationSession
from tilescope.gui.tools.base import MIN_DRAG_PX, AnnotationTool
from tilescope.gui.workers import KeyedExecutor, function_worker

if TYPE_CHECKING:
    from tilescope.engine.slide.source import SlideSource
    from tilescope.gui.viewer.slide_view import SlideView

log = logging.getLogger(__name__)

DEFAULT_CLASS = "Nucleus"
SHORTCUT = "N"  # free among the annotation tools' keys (M S E . R O P B, Shift+P/B, A)
EXCLUDE_RADIUS_UM = 20.0  # outlines whose centre is this close to a prompt are excluded
QUEUED_COLOUR = QColor(255, 200, 0)


class _ShiftWatcher(QObject):
    """Watches the view for the Shift key's release (which sends the queued clicks)."""

    def __init__(self, on_shift_released: Callable[[], object]) -> None:
        super().__init__()
        self._on_shift_released = on_shift_released

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if (
            event.type() == QEvent.Type.KeyRelease
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Shift
            and not event.isAutoRepeat()
        ):
            self._on_shift_released()
        return False


class NuClickTool(AnnotationTool):
    def __init__(
        self,
        session: AnnotationSession,
        overlay: AnnotationOverlay,
        *,
        model_id: str = "nuclick",
        status: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(session, overlay)
        self.model_id = model_id
        self.status = status or (lambda message: None)
        self.queued: list[tuple[float, float]] = []
        self.in_flight: list[Prompt] = []
        self.last_latency_ms: float | None = None
        self.last_message: str | None = None
        self.results: list[list[str]] = []  # ids added per step, newest last
        self._squiggle: list[tuple[float, float]] | None = None
        self._press: QPointF | None = None
        self._model: Any = None
        # One thread: the warm-up loads the model before the first click is served.
        self._executor: KeyedExecutor[Any] = KeyedExecutor(1, "nuclick")
        self._shift = _ShiftWatcher(self.flush_queue)
        self.ready = False
        self._closed = False

    # -- lifetime -----------------------------------------------------------------------
    def activate(self, view: SlideView) -> None:
        super().activate(view)
        view.installEventFilter(self._shift)
        if not self.ready:
            function_worker(self._warm_up, view.source).on_returned(self._on_warmed).start(
                self._executor
            )
        self.status("NuClick: click inside a nucleus; Shift+click to queue; drag a squiggle")

    def deactivate(self, view: SlideView) -> None:
        view.removeEventFilter(self._shift)
        super().deactivate(view)

    def close(self) -> None:
        """The slide is closing: drop results still on their way."""
        self._closed = True
        self._executor.shutdown()

    def cancel(self) -> None:
        self.queued.clear()
        self._squiggle = None
        self._press = None
        self.refresh()

    # -- worker side --------------------------------------------------------------------
    def _load(self) -> Any:
        if self._model is None:
            from tilescope.engine.inference.sessions import default_threads
            from tilescope.plugins.nuclick.api import load_nuclick

            self._model = load_nuclick(self.model_id, threads=default_threads(interactive=True))
        return self._model

    def _warm_up(self, slide: SlideSource) -> str | None:
        """Create the session and run it once so the first real click is fast; returns the
        problem, if any."""
        try:
            model = self._load()
            meta = slide.metadata
            model.segment(slide, [Prompt("point", ((meta.width / 2, meta.height / 2),))])
        except Exception as error:
            return f"NuClick model {self.model_id!r} is not usable: {error}"
        return None

    def _segment(
        self, slide: SlideSource, prompts: list[Prompt], exclude: list[tuple[float, float]]
    ) -> object:
        """The model's outcomes, or the user's message when it failed."""
        try:
            outcomes: object = self._load().segment(slide, prompts, exclude)
        except Exception as error:
            log.info("NuClick failed", exc_info=error)
            return f"NuClick model {self.model_id!r} failed: {error}"
        return outcomes

    # -- GUI side -----------------------------------------------------------------------
    def _on_warmed(self, error: str | None) -> None:
        if self._closed or self.session.closed:
            return
        self.ready = error is None
        if error:
            self._say(error)

    def submit(self, prompts: Sequence[Prompt], label: str = "NuClick") -> bool:
        """Segment `prompts` (level-0) off the GUI thread; the result arrives as an edit."""
        view = self.view
        if view is None or not prompts:
            return False
        prompts = list(prompts)
        self.in_flight.extend(prompts)
        exclude = self._nearby_centres(prompts, view.source)
        started = time.perf_counter()
        worker = function_worker(self._segment, view.source, prompts, exclude)
        worker.on_returned(partial(self._on_segmented, prompts, started=started, label=label))
        worker.start(self._executor)
        self.refresh()
        return True

    def flush_queue(self) -> bool:
        """Segment the queued Shift+clicks together as one batch."""
        if not self.queued:
            return False
        points, self.queued = self.queued, []
        return self.submit([Prompt("point", (p,)) for p in points], "NuClick batch")

    def _nearby_centres(
        self, prompts: Sequence[Prompt], slide: SlideSource
    ) -> list[tuple[float, float]]:
        mpp = slide.metadata.mpp
        radius = EXCLUDE_RADIUS_UM / (0.5 * (mpp[0] + mpp[1])) if mpp else 40.0
        xs = [x for p in prompts for x, _ in p.points]
        ys = [y for p in prompts for _, y in p.points]
        box = (min(xs) - radius, min(ys) - radius, max(xs) + radius, max(ys) + radius)
        try:
            found = self.session.store.query(box)
        except Exception as error:  # a busy store must not block clicking
            log.info("NuClick: no exclusion from existing outlines (%s)", error)
            return []
        inside = [p for p in prompts if p.kind == "squiggle"]
        centres: list[tuple[float, float]] = []
        for annotation in found:
            geometry = annotation.geometry
            if geometry.is_empty or geometry.area <= 0:
                continue
            # An outline the user clicks into again is not excluded from its own redo.
            if any(shapely.contains_xy(geometry, *p.points[0]) for p in prompts) or any(
                geometry.intersects(shapely.LineString(p.points))
                for p in inside
                if len(p.points) > 1
            ):
                continue
            c = geometry.centroid
            centres.append((c.x, c.y))
        return centres

    def _on_segmented(
        self, prompts: list[Prompt], outcomes: object, *, started: float, label: str
    ) -> None:
        if self._closed or self.session.closed:
            return
        for prompt in prompts:
            if prompt in self.in_flight:
                self.in_flight.remove(prompt)
        if isinstance(outcomes, str):
            self._say(outcomes)
            self.refresh()
            return
        assert isinstance(outcomes, list)
        name = self.session.current_class or DEFAULT_CLASS
        made: list[Annotation] = [
            o.annotation.evolve(class_name=name, kind=ObjectKind.ANNOTATION, run_id=None)
            for o in outcomes
            if o.annotation is not None
        ]
        failures = [o.message for o in outcomes if o.annotation is None and o.message]
        if made:
            if self._model is not None and name not in self.session.styles.colours:
                classes = self._model.manifest.classes
                adopt_class_colours(self.session.store, {c.name: c.colour for c in classes})
            ids = self.session.history.add(made, label)
            self.results.append(list(ids))
        self.last_latency_ms = (time.perf_counter() - started) * 1000
        if failures and not made:
            self._say(f"NuClick: {failures[0]}")
        elif failures:
            self._say(f"NuClick: {len(made)} outlined; {len(failures)} not ({failures[0]})")
        else:
            self._say(f"NuClick: {len(made)} outlined in {self.last_latency_ms:.0f} ms")
        self.refresh()

    def _say(self, message: str) -> None:
        self.last_message = message
        self.status(message)

    # -- input --------------------------------------------------------------------------
    def mouse_press(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event):
            return False
        self._press = event.position()
        self._squiggle = [self.level0(view, event.position())]
        return True

    def mouse_move(self, view: SlideView, event: QMouseEvent) -> bool:
        if self._squiggle is None or not self.drawing(event):
            return False
        self._squiggle.append(self.level0(view, event.position()))
        view.update()
        return True

    def mouse_release(self, view: SlideView, event: QMouseEvent) -> bool:
        if not self.is_draw_button(event) or self._press is None or self._squiggle is None:
            return False
        moved = event.position() - self._press
        points = self._squiggle
        self._press, self._squiggle = None, None
        if math.hypot(moved.x(), moved.y()) >= MIN_DRAG_PX and len(points) > 1:
            self.submit([Prompt("squiggle", tuple(points))], "NuClick squiggle")
            return True
        click = self.level0(view, event.position())
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.queued.append(click)
            self._say(f"NuClick: {len(self.queued)} queued; release Shift (or Enter) to outline")
            view.update()
            return True
        points_now = [*self.queued, click]
        self.queued = []
        label = "NuClick batch" if len(points_now) > 1 else "NuClick"
        self.submit([Prompt("point", (p,)) for p in points_now], label)
        return True

    def mouse_double_click(self, view: SlideView, event: QMouseEvent) -> bool:
        return self.is_draw_button(event)  # no zoom on a quick second click

    def key_press(self, view: SlideView, event: QKeyEvent) -> bool:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return self.flush_queue()
        return super().key_press(view, event)

    # -- preview ------------------------------------------------------------------------
    def paint_preview(self, painter: QPainter, scale: float) -> None:
        radius = 4.0 / max(scale, 1e-9)
        pen = QPen(QUEUED_COLOUR, 2.0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for x, y in self.queued:
            painter.drawEllipse(QPointF(x, y), radius, radius)
        for prompt in self.in_flight:
            for x, y in prompt.points[:1]:
                painter.drawEllipse(QPointF(x, y), radius / 2, radius / 2)
        if self._squiggle and len(self._squiggle) > 1:
            painter.drawPolyline(QPolygonF([QPointF(x, y) for x, y in self._squiggle]))
