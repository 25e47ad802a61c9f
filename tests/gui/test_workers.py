"""gui/workers.py: background calls delivered on the GUI thread, newest-wins by key, shutdown,
and the synchronous mode tests use. Threaded cases hold workers back with events, so every
assertion is about order and content, never about time."""

from __future__ import annotations

import threading
from collections.abc import Generator

import pytest
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QLabel

from tests.gui.conftest import ArraySource, rgb_pyramid
from tests.gui.helpers import image_to_array
from tilescope.gui import workers
from tilescope.gui.workers import KeyedExecutor, function_worker, generator_worker

WAIT = 5.0  # seconds a worker waits for a gate before giving up (only on a broken test)


@pytest.fixture
def executor(qapp):
    pool = KeyedExecutor(threads=1, name="test-worker")
    yield pool
    pool.shutdown(wait=True)


def _gated(gate: threading.Event, value: object, started: threading.Event | None = None) -> object:
    if started is not None:
        started.set()
    assert gate.wait(WAIT)
    return value


def test_a_function_result_arrives_on_the_gui_thread(qtbot):
    seen: list[tuple[object, threading.Thread]] = []
    worker = function_worker(lambda a, b: a + b, 2, 3)
    worker.on_returned(lambda value: seen.append((value, threading.current_thread())))
    worker.start()
    qtbot.waitUntil(lambda: worker.done, timeout=int(WAIT * 1000))
    assert seen == [(5, threading.main_thread())]


def test_a_generator_delivers_progress_in_order_then_its_result(qtbot):
    def count(n: int) -> Generator[int, None, str]:
        yield from range(n)
        return "done"

    events: list[object] = []
    worker = generator_worker(count, 4)
    worker.on_yielded(events.append).on_returned(events.append)
    worker.on_finished(lambda: events.append("finished")).start()
    qtbot.waitUntil(lambda: worker.done, timeout=int(WAIT * 1000))
    assert events == [0, 1, 2, 3, "done", "finished"]


def test_an_error_goes_to_on_errored_and_not_to_on_returned(qtbot):
    def broken() -> int:
        raise ValueError("bad header in slide.svs")

    returned: list[int] = []
    errors: list[Exception] = []
    worker = function_worker(broken).on_returned(returned.append).on_errored(errors.append)
    worker.start()
    qtbot.waitUntil(lambda: worker.done, timeout=int(WAIT * 1000))
    assert returned == []
    assert [str(e) for e in errors] == ["bad header in slide.svs"]


def test_a_cancelled_generator_stops_at_its_next_yield(qtbot, executor):
    gate = threading.Event()
    steps: list[int] = []

    def slow() -> Generator[int, None, str]:
        for i in range(100):
            steps.append(i)
            yield i
            assert gate.wait(WAIT)
        return "complete"

    results: list[str] = []
    worker = generator_worker(slow).on_returned(results.append).start(executor)
    qtbot.waitUntil(lambda: len(steps) >= 1, timeout=int(WAIT * 1000))
    worker.cancel()
    gate.set()
    qtbot.waitUntil(lambda: executor.pending() == 0, timeout=int(WAIT * 1000))
    assert steps == [0, 1]  # the step under way when cancelled ends at its yield: no more
    assert results == []
    assert worker.cancelled


def test_a_newer_worker_for_a_key_supersedes_the_older_one(qtbot, executor):
    gate, started = threading.Event(), threading.Event()
    delivered: list[str] = []
    old = function_worker(_gated, gate, "old", started).on_returned(delivered.append)
    old.start(executor, key="viewport")
    assert started.wait(WAIT)
    queued = function_worker(_gated, gate, "queued").on_returned(delivered.append)
    queued.start(executor, key="viewport")  # supersedes "old" (running)
    newest = function_worker(_gated, gate, "newest").on_returned(delivered.append)
    newest.start(executor, key="viewport")  # supersedes "queued" before it ran
    assert executor.pending() == 2  # "old" still running, "newest" queued
    gate.set()
    qtbot.waitUntil(lambda: newest.done, timeout=int(WAIT * 1000))
    assert delivered == ["newest"]
    assert old.cancelled and queued.cancelled and not newest.cancelled


def test_an_equal_request_in_hand_is_not_repeated(executor):
    gate = threading.Event()
    first = function_worker(_gated, gate, 1).start(executor, key=(0, 1, 2), tag=7)
    again = function_worker(_gated, gate, 2).start(executor, key=(0, 1, 2), tag=7)
    assert again is first
    other = function_worker(_gated, gate, 3).start(executor, key=(0, 1, 2), tag=8)
    assert other is not first and first.cancelled
    gate.set()


def test_replace_keeps_only_the_new_queue_in_its_order(qtbot, executor):
    gate, started = threading.Event(), threading.Event()
    order: list[str] = []
    blocker = function_worker(_gated, gate, "blocker", started).on_returned(order.append)
    blocker.start(executor, key="blocker")
    assert started.wait(WAIT)

    made: list[str] = []

    def make(name: str) -> workers.Worker[None, str]:
        made.append(name)
        return function_worker(str, name).on_returned(order.append)

    executor.submit(function_worker(str, "head").on_returned(order.append), key="head")
    executor.replace("abc", make, tag=1, keep={"head"})
    executor.replace("cdb", make, tag=1, keep={"head"})  # the view moved on: no "a"
    assert executor.pending() == 5  # blocker running; head, c, d, b queued
    assert made == ["a", "b", "c", "d"]  # c and b were in hand: no new workers
    gate.set()
    qtbot.waitUntil(lambda: executor.pending() == 0 and len(order) == 5, timeout=int(WAIT * 1000))
    assert order == ["blocker", "head", "c", "d", "b"]


def test_nothing_is_delivered_after_shutdown_and_the_threads_exit(qtbot):
    pool = KeyedExecutor(threads=2, name="test-shutdown")
    gate, started = threading.Event(), threading.Event()
    delivered: list[str] = []
    running = function_worker(_gated, gate, "running", started).on_returned(delivered.append)
    running.start(pool)
    assert started.wait(WAIT)
    queued = function_worker(str, "queued").on_returned(delivered.append)
    queued.start(pool, key="later")
    pool.shutdown()
    gate.set()
    pool.join(WAIT)
    assert not any(thread.is_alive() for thread in pool.threads)
    qtbot.wait(50)  # let any (wrongly) posted delivery run
    assert delivered == []
    late = function_worker(str, "late").start(pool)
    assert late.cancelled and pool.pending() == 0


def test_synchronous_mode_delivers_before_start_returns():
    seen: list[object] = []
    with workers.synchronous():
        worker = generator_worker(iter_and_return, 3)
        worker.on_yielded(seen.append).on_returned(seen.append).start()
        assert seen == [0, 1, 2, "returned 3"]
        assert worker.done
        assert threading.current_thread() is threading.main_thread()
    assert not workers.is_synchronous()


def iter_and_return(n: int) -> Generator[int, None, str]:
    yield from range(n)
    return f"returned {n}"


def test_synchronous_mode_serves_each_request_at_once_in_order(qapp):
    pool = KeyedExecutor(threads=1, name="test-sync")
    seen: list[str] = []
    with workers.synchronous():
        pool.replace("xyz", lambda k: function_worker(str, k).on_returned(seen.append))
        pool.submit(function_worker(str, "y again").on_returned(seen.append), key="y", tag=1)
        assert pool.pending() == 0 and pool.keys() == set()  # nothing left in hand
        pool.submit(function_worker(str, "y once more").on_returned(seen.append), key="y", tag=1)
    pool.shutdown(wait=True)
    assert seen == ["x", "y", "z", "y again", "y once more"]


def test_on_settled_runs_on_the_gui_thread_after_each_worker(qtbot):
    settled: list[int] = []
    pool = KeyedExecutor(threads=2, name="test-settled", on_settled=lambda: settled.append(1))
    for value in range(3):
        function_worker(str, value).start(pool)
    qtbot.waitUntil(lambda: len(settled) == 3, timeout=int(WAIT * 1000))
    pool.shutdown(wait=True)


def test_a_result_for_a_deleted_widget_is_dropped_quietly(qtbot):
    label = QLabel()
    gate = threading.Event()
    worker = function_worker(_gated, gate, "text").on_returned(label.setText)
    worker.start()
    label.deleteLater()
    qtbot.waitUntil(lambda: not _alive(label), timeout=int(WAIT * 1000))
    gate.set()
    qtbot.waitUntil(lambda: worker.done, timeout=int(WAIT * 1000))  # no exception raised


def _alive(widget: QLabel) -> bool:
    try:
        widget.objectName()
    except RuntimeError:
        return False
    return True


def test_engine_code_reporting_through_a_callback_delivers_each_report(qtbot):
    def run(report, count: int, label: str) -> str:
        for i in range(count):
            report((label, i))
        return f"{label} done"

    seen: list[object] = []
    worker = workers.progress_worker(run, 3, "tiles").on_yielded(seen.append)
    worker.on_returned(seen.append).start()
    qtbot.waitUntil(lambda: worker.done, timeout=int(WAIT * 1000))
    assert seen == [("tiles", 0), ("tiles", 1), ("tiles", 2), "tiles done"]


def test_a_slide_view_in_synchronous_mode_is_complete_without_waiting(qtbot, make_view):
    source = ArraySource(rgb_pyramid(2048, 1536, 3))
    with workers.synchronous():
        view = make_view(source, 400, 300)
        view.zoom_to_device_downsample(1.0)
        view.center_on(1000, 700)
        QCoreApplication.processEvents()  # the view asks for its tiles on the next turn
        assert view.is_complete()
        assert view.loader.pending() == 0
        pixels = image_to_array(view.render_image(1.0))
    wx, wy = view.transform.to_widget(1000, 700)
    assert tuple(pixels[int(wy), int(wx)]) == tuple(source.levels[0][700, 1000])
