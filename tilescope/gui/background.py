"""Run a function in a worker thread and get its result (or error) back on the GUI thread.

The short form of `tilescope.gui.workers` for one-off calls (opening a file, an export).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tilescope.gui.workers import Worker, function_worker

R = TypeVar("R")


def run_in_background(
    work: Callable[[], R],
    on_done: Callable[[R], object],
    on_error: Callable[[Exception], object],
) -> Worker[None, R]:
    """Call `work()` in a pool thread; then `on_done(result)` or `on_error(exc)` in the GUI."""
    return function_worker(work).on_returned(on_done).on_errored(on_error).start()
