"""Progress reports and cancellation for long runs (no Qt: a GUI adapts these to signals)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from tilescope.engine.errors import TilescopeError


class RunCancelledError(TilescopeError):
    """Raised inside a run when its `CancelToken` was set; the run stops between batches."""


class CancelToken:
    """Set from any thread (a button, Ctrl+C); the runner checks it between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise RunCancelledError()


@dataclass(frozen=True, slots=True)
class ProgressReport:
    done: int  # tiles finished, including those resumed from an earlier run
    total: int  # tiles to run (background already excluded)
    skipped: int  # background tiles not run
    rate: float  # tiles per second in this run
    eta_s: float | None  # seconds left at the current rate

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


class ProgressListener(Protocol):
    def __call__(self, report: ProgressReport) -> None: ...


class ProgressTracker:
    """Turns 'n more tiles done' into `ProgressReport`s for a listener."""

    def __init__(
        self,
        total: int,
        skipped: int = 0,
        already_done: int = 0,
        listener: ProgressListener | None = None,
    ) -> None:
        self.total = total
        self.skipped = skipped
        self.done = already_done
        self._start_done = already_done
        self._start = time.perf_counter()
        self._listener = listener

    def advance(self, tiles: int) -> ProgressReport:
        self.done += tiles
        report = self.report()
        if self._listener is not None:
            self._listener(report)
        return report

    def report(self) -> ProgressReport:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        rate = (self.done - self._start_done) / elapsed
        left = self.total - self.done
        eta = left / rate if rate > 0 else None
        return ProgressReport(self.done, self.total, self.skipped, rate, eta)
