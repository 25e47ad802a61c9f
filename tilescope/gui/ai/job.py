"""A long AI task in a worker thread, reporting to the GUI thread through Qt signals.

The work is a plain function `work(progress, cancel)` from the engine's world (no Qt): it
calls `progress(ProgressReport)` as tiles finish and checks `cancel`. Signals emitted from
the worker are queued to this object's (GUI) thread, so the event loop never waits on it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QObject, Signal

from tilescope.engine.inference.progress import CancelToken, ProgressListener, ProgressReport

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
    # The worker emits only these; their slots run on the GUI thread and emit the public
    # signals there, so the state and every listener change in one event-loop step.
    _reported = Signal(object)
    _succeeded = Signal(object)
    _errored = Signal(str)

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
        self._thread: threading.Thread | None = None
        self._ended = threading.Event()
        self._reported.connect(self._on_reported)
        self._succeeded.connect(self._on_finished)
        self._errored.connect(self._on_failed)

    def start(self) -> None:
        self._set_state(JobState.RUNNING)
        self._thread = threading.Thread(target=self._run, name=f"ai-job {self.title}", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_token.cancel()

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker has ended (tests, shutdown); True if it did."""
        return self._ended.wait(timeout)

    # -- worker thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            result = self._work(self._report, self.cancel_token)
        except Exception as error:
            log.info("AI job %r failed", self.title, exc_info=error)
            message = self._describe_error(error)
            self._ended.set()
            self._emit(self._errored, message)
            return
        self._ended.set()
        self._emit(self._succeeded, result)

    def _report(self, report: ProgressReport) -> None:
        self._emit(self._reported, report)

    @staticmethod
    def _emit(signal: Any, value: object) -> None:
        with contextlib.suppress(RuntimeError):  # the job was deleted (window closed)
            signal.emit(value)

    # -- GUI thread ---------------------------------------------------------------------
    def _on_reported(self, report: ProgressReport) -> None:
        self.last_report = report
        self.progress.emit(report)

    def _on_finished(self, result: Any) -> None:
        self.result = result
        self._set_state(JobState.CANCELLED if self._was_cancelled(result) else JobState.DONE)
        self.finished.emit(result)

    def _on_failed(self, message: str) -> None:
        self.error = message
        self._set_state(JobState.FAILED)
        self.failed.emit(message)

    def _set_state(self, state: JobState) -> None:
        self.state = state
        if state is not JobState.QUEUED:  # the log tells support what ran, ended or stopped
            log.info("AI job %r: %s", self.title, state.value)
        self.state_changed.emit(state.value)
