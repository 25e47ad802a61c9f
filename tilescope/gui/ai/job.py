"""A long AI task in the background, reporting to the GUI thread through Qt signals.

The work is a plain function `work(progress, cancel)` from the engine's world (no Qt): it
calls `progress(ProgressReport)` as tiles finish and checks `cancel`. It runs as a
`progress_worker` on an executor of its own (one thread, ended with the job), so a long job
never occupies the shared pool the viewer's one-off reads use; every signal is emitted on
the GUI thread, so the state and each listener change in one event-loop step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QObject, Signal

from tilescope.engine.inference.progress import CancelToken, ProgressListener, ProgressReport
from tilescope.gui.workers import KeyedExecutor, progress_worker

log = logging.getLogger(__name__)

Work = Callable[[ProgressListener, CancelToken], Any]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class AiJob(QObject):
    """One task. `finished(result)` or `failed(message)` ends it; `cancel()` asks it to stop.

    `describe_error(exc)` turns an exception into the user's message (e.g. naming the model);
    `was_cancelled(result)` tells a result cut short by the cancel token from a complete one.
    """

    progress = Signal(object)  # ProgressReport
    finished = Signal(object)  # the work's result
    failed = Signal(str)  # a message for the user
    state_changed = Signal(str)  # JobState

    def __init__(
        self,
        title: str,
        work: Work,
        *,
        describe_error: Callable[[BaseException], str] = str,
        was_cancelled: Callable[[Any], bool] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.title = title
        self.state = JobState.QUEUED
        self.last_report: ProgressReport | None = None
        self.result: Any = None
        self.error: str | None = None
        self.cancel_token = CancelToken()
        self._work = work
        self._describe_error = describe_error
        self._was_cancelled = was_cancelled or (lambda _: self.cancel_token.cancelled)
        self._executor: KeyedExecutor[str] | None = None
        self._ended = threading.Event()

    def start(self) -> None:
        self._set_state(JobState.RUNNING)
        self._executor = KeyedExecutor(1, "ai-job")
        worker = progress_worker(self._run)
        worker.on_yielded(self._on_reported)
        worker.on_returned(self._on_finished)
        worker.on_errored(self._on_failed)
        worker.on_finished(self._executor.shutdown)  # its thread exits, idle
        worker.start(self._executor, key="job")

    def cancel(self) -> None:
        """Ask the work to stop at its next check; what it finished is still delivered."""
        self.cancel_token.cancel()

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work has ended (tests, shutdown); True if it did."""
        return self._ended.wait(timeout)

    # -- worker thread ------------------------------------------------------------------
    def _run(self, send: Callable[[ProgressReport], None], /) -> Any:
        def report(report: ProgressReport) -> None:  # the engine's listener protocol
            send(report)

        try:
            return self._work(report, self.cancel_token)
        finally:
            self._ended.set()

    # -- GUI thread ---------------------------------------------------------------------
    def _on_reported(self, report: ProgressReport) -> None:
        self.last_report = report
        self.progress.emit(report)

    def _on_finished(self, result: Any) -> None:
        self.result = result
        self._set_state(JobState.CANCELLED if self._was_cancelled(result) else JobState.DONE)
        self.finished.emit(result)

    def _on_failed(self, error: Exception) -> None:
        log.info("AI job %r failed", self.title, exc_info=error)
        self.error = self._describe_error(error)
        self._set_state(JobState.FAILED)
        self.failed.emit(self.error)

    def _set_state(self, state: JobState) -> None:
        self.state = state
        if state is not JobState.QUEUED:  # the log tells support what ran, ended or stopped
            log.info("AI job %r: %s", self.title, state.value)
        self.state_changed.emit(state.value)
