"""Run a function in a worker thread and get its result (or error) back on the GUI thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Signal

log = logging.getLogger(__name__)

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tilescope-bg")


class _Relay(QObject):
    """Lives on the GUI thread; signals emitted from workers are queued to it."""

    finished = Signal(object, object)  # callback, value

    def __init__(self) -> None:
        super().__init__()
        self.finished.connect(self._call)

    def _call(self, callback: Callable[[Any], None], value: object) -> None:
        try:
            callback(value)
        except RuntimeError as error:  # the widget waiting for it was closed meanwhile
            log.debug("background result dropped: %s", error)


_relay: _Relay | None = None


def _get_relay() -> _Relay:
    global _relay
    if _relay is None:
        _relay = _Relay()
        app = QCoreApplication.instance()
        if app is not None:
            _relay.moveToThread(app.thread())
    return _relay


def run_in_background(
    work: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[BaseException], None],
) -> Future[Any]:
    """Call `work()` in a pool thread; then `on_done(result)` or `on_error(exc)` in the GUI."""
    relay = _get_relay()

    def task() -> None:
        try:
            result = work()
        except Exception as error:
            relay.finished.emit(on_error, error)
            return
        relay.finished.emit(on_done, result)

    return _pool.submit(task)
