"""Background work for the GUI: run a function or generator off the GUI thread and get its
result, progress and errors back on the GUI thread; serve keyed requests newest first.

In the manner of superqt's (napari's) thread workers, in small and written for tilescope:

- `function_worker(fn, *args)` / `generator_worker(gen_fn, *args)` make a `Worker`, typed by
  what the call yields and returns; `progress_worker(fn, *args)` calls ``fn(report, *args)``
  for engine code that reports through a callback. Callbacks (`on_returned`, `on_yielded`,
  `on_errored`, `on_finished`) run on the GUI thread; `cancel()` drops whatever is not yet
  delivered, and a generator stops at its next ``yield``.
- `KeyedExecutor` serves workers on its own threads, by key: a newer worker for a key
  supersedes the older one (queued: dropped; running: its results dropped, a generator
  stopped); `replace` swaps the whole queue (a view's new viewport); `shutdown` ends delivery
  for good. This per-key generation rule and the shutdown guard live here and nowhere else.
- `synchronous()`: while it is active, workers run at once in the caller's thread and deliver
  before `start` returns, so tests are deterministic and need no waiting.

Results hop to the GUI thread through one relay QObject whose queued signal carries a callable
(the executor's delivery step), so no worker ever emits into a Qt object that may be gone.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Container, Generator, Hashable, Iterable, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Signal

log = logging.getLogger(__name__)

P = ParamSpec("P")
Y = TypeVar("Y")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)
Q = TypeVar("Q", bound=Hashable)  # the keys of one `replace` call (a subset of the K's)

DEFAULT_THREADS = 2  # the shared executor for one-off calls (file reads, exports, ...)

_sync_depth = 0


@contextlib.contextmanager
def synchronous() -> Iterator[None]:
    """Run every worker started meanwhile inline, delivering before `start` returns."""
    global _sync_depth
    _sync_depth += 1
    try:
        yield
    finally:
        _sync_depth -= 1


def is_synchronous() -> bool:
    return _sync_depth > 0


# -- the hop to the GUI thread -------------------------------------------------------------
class _Relay(QObject):
    """Lives on the GUI thread; a callable emitted from a worker is queued to it and run."""

    call = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(self._run)

    def _run(self, step: Callable[[], None]) -> None:
        step()


def _owner(callback: Callable[..., object]) -> object:
    """The object a callback is bound to (through functools.partial too), or None."""
    while isinstance(callback, functools.partial):
        callback = callback.func
    return getattr(callback, "__self__", None)


def _call(callback: Callable[..., object], *args: object) -> None:
    """Run a GUI-thread callback; one whose Qt object was deleted meanwhile is skipped.

    The relay outlives every widget, so a result can arrive after its receiver was deleted
    (deleteLater): calling into a deleted C++ object can crash instead of raising, so a
    bound QObject is checked first."""
    owner = _owner(callback)
    if isinstance(owner, QObject) and not shiboken6.isValid(owner):
        log.debug("result for a deleted %s dropped", type(owner).__name__)
        return
    try:
        callback(*args)
    except RuntimeError as error:
        if "already deleted" not in str(error):
            raise
        log.debug("result for a closed widget dropped: %s", error)


_relay: _Relay | None = None
_relay_lock = threading.Lock()


def _gui_relay() -> _Relay:
    global _relay
    with _relay_lock:
        if _relay is None:
            _relay = _Relay()
            app = QCoreApplication.instance()
            if app is not None and _relay.thread() is not app.thread():
                _relay.moveToThread(app.thread())
        return _relay


# -- one call ------------------------------------------------------------------------------
class Worker(Generic[Y, R]):
    """One call of a function (or generator function) in a worker thread.

    Register callbacks, then `start()` it (on the shared executor, or on your own
    `KeyedExecutor` under a key). Everything registered runs on the GUI thread, in order:
    each `on_yielded` value, then `on_returned` or `on_errored`, then `on_finished`. Once
    cancelled or superseded it delivers nothing but `on_finished` (and not even that when it
    never started, or after its executor shut down). An error nobody listens for is logged.
    """

    __slots__ = (
        "_cancelled",
        "_done",
        "_errored",
        "_executor",
        "_finished",
        "_mode",
        "_returned",
        "_run",
        "_yielded",
        "key",
        "tag",
    )

    def __init__(self, run: Callable[..., Any], *, mode: str = "function") -> None:
        self._run = run
        self._mode = mode  # "function", "generator" or "progress" (run takes a report callback)
        self._returned: list[Callable[[R], object]] = []
        self._yielded: list[Callable[[Y], object]] = []
        self._errored: list[Callable[[Exception], object]] = []
        self._finished: list[Callable[[], object]] = []
        self.key: Hashable = self
        self.tag: Hashable = None
        self._executor: KeyedExecutor[Any] | None = None
        self._cancelled = False  # read by the worker thread between yields
        self._done = False

    # -- set-up (GUI thread, before start) ---------------------------------------------
    def on_returned(self, callback: Callable[[R], object]) -> Worker[Y, R]:
        self._returned.append(callback)
        return self

    def on_yielded(self, callback: Callable[[Y], object]) -> Worker[Y, R]:
        self._yielded.append(callback)
        return self

    def on_errored(self, callback: Callable[[Exception], object]) -> Worker[Y, R]:
        self._errored.append(callback)
        return self

    def on_finished(self, callback: Callable[[], object]) -> Worker[Y, R]:
        self._finished.append(callback)
        return self

    def start(
        self,
        executor: KeyedExecutor[Any] | None = None,
        *,
        key: Hashable = None,
        tag: Hashable = None,
        first: bool = False,
    ) -> Worker[Y, R]:
        """Queue this call (see `KeyedExecutor.submit`); returns the worker that will serve
        it: this one, or an equal one already in hand."""
        return (executor or shared_executor()).submit(self, key=key, tag=tag, first=first)

    # -- state --------------------------------------------------------------------------
    def cancel(self) -> None:
        """Deliver nothing more; a queued call never runs, a generator stops at its next
        yield (a plain function runs to its end, unheard)."""
        if self._executor is not None:
            self._executor.cancel_worker(self)
        else:
            self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def done(self) -> bool:
        """True once its last callback has been delivered (or dropped)."""
        return self._done

    # -- worker thread ------------------------------------------------------------------
    def _execute(self, post: Callable[[Worker[Any, Any], str, object], None]) -> None:
        try:
            if self._mode == "progress":
                result = self._run(functools.partial(_report, self, post))
            else:
                result = self._run()
            if self._mode == "generator":
                result = _yield_all(result, self, post)
        except Exception as error:  # delivered to on_errored (or logged there)
            post(self, "errored", error)
        else:
            post(self, "returned", result)


def _yield_all(
    generator: Generator[Any, Any, Any],
    worker: Worker[Any, Any],
    post: Callable[[Worker[Any, Any], str, object], None],
) -> object:
    """Run a generator to its end, posting each value; stop early once `worker` is cancelled."""
    try:
        while not worker._cancelled:
            post(worker, "yielded", next(generator))
    except StopIteration as stop:
        return stop.value
    generator.close()
    return None


def _report(
    worker: Worker[Any, Any], post: Callable[[Worker[Any, Any], str, object], None], value: object
) -> None:
    if not worker._cancelled:
        post(worker, "yielded", value)


def function_worker(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Worker[None, R]:
    """A worker that calls `fn(*args, **kwargs)` and delivers its return value."""
    return Worker(functools.partial(fn, *args, **kwargs))


def progress_worker(
    fn: Callable[Concatenate[Callable[[Y], None], P], R], /, *args: P.args, **kwargs: P.kwargs
) -> Worker[Y, R]:
    """A worker that calls ``fn(report, *args, **kwargs)``: each ``report(value)`` from the
    worker thread reaches `on_yielded` on the GUI thread (engine code such as `run_job`
    takes a progress callback; it stops on its own cancel token, not on `Worker.cancel`)."""

    def run(report: Callable[[Y], None]) -> R:
        return fn(report, *args, **kwargs)

    return Worker(run, mode="progress")


def generator_worker(
    fn: Callable[P, Generator[Y, Any, R]], /, *args: P.args, **kwargs: P.kwargs
) -> Worker[Y, R]:
    """A worker that runs generator `fn(*args, **kwargs)`, delivering each yielded value
    (progress) and then its return value; a cancel stops it at the next yield."""
    return Worker(functools.partial(fn, *args, **kwargs), mode="generator")


# -- many calls, by key --------------------------------------------------------------------
class KeyedExecutor(Generic[K]):
    """Worker threads serving a queue of workers; the newest worker for a key wins.

    A key names what a worker is for (a tile, "the viewport"); a tag names the exact request
    (a tile at one display generation). Submitting a worker for a key whose worker in hand
    has an equal, non-None tag changes nothing; otherwise the older one is superseded.
    Workers submitted without a key get a key of their own (plain first-come, first-served).
    `on_settled` runs on the GUI thread whenever a worker has ended (e.g. to show progress).
    """

    def __init__(
        self,
        threads: int = DEFAULT_THREADS,
        name: str = "tilescope-worker",
        *,
        on_settled: Callable[[], object] | None = None,
    ) -> None:
        self._relay = _gui_relay()
        self._cond = threading.Condition()
        self._queue: OrderedDict[Hashable, Worker[Any, Any]] = OrderedDict()
        self._current: dict[Hashable, Worker[Any, Any]] = {}  # key -> newest worker
        self._running = 0
        self._closed = False
        self._on_settled = on_settled
        self.threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        for thread in self.threads:
            thread.start()

    # -- any thread -----------------------------------------------------------------------
    def submit(
        self,
        worker: Worker[Y, R],
        *,
        key: K | None = None,
        tag: Hashable = None,
        first: bool = False,
    ) -> Worker[Y, R]:
        """Queue `worker` (at the front with `first`) under `key`; returns the worker that
        serves the request (an equal one already in hand, or `worker`)."""
        worker.key = worker if key is None else key
        worker.tag = tag
        worker._executor = self
        with self._cond:
            if self._closed:
                worker._cancelled = True
                return worker
            same = self._in_hand(worker.key, tag)
            if same is not None:
                if first and worker.key in self._queue:
                    self._queue.move_to_end(worker.key, last=False)
                return same
            self._supersede(worker.key)
            self._current[worker.key] = worker
            if not is_synchronous():
                self._queue[worker.key] = worker
                if first:
                    self._queue.move_to_end(worker.key, last=False)
                self._cond.notify()
                return worker
        worker._execute(self._deliver_now)
        return worker

    def replace(
        self,
        keys: Iterable[Q],
        make: Callable[[Q], Worker[Any, Any]],
        *,
        tag: Hashable = None,
        keep: Container[K] = (),
    ) -> None:
        """Make the queue exactly `keys`, in order, after the queued keys in `keep`: queued
        work for other keys is dropped; work in hand with an equal tag stays; `make(key)`
        builds a worker only for the keys that need one."""
        inline: list[Worker[Any, Any]] = []
        with self._cond:
            if self._closed:
                return
            old = self._queue
            self._queue = OrderedDict((k, w) for k, w in old.items() if k in keep)
            for key in keys:
                if key in self._queue:
                    continue
                same = self._in_hand(key, tag)
                if same is not None:
                    if key in old:
                        self._queue[key] = same
                    continue
                worker = make(key)
                worker.key, worker.tag, worker._executor = key, tag, self
                self._supersede(key)
                self._current[key] = worker
                if is_synchronous():
                    inline.append(worker)
                else:
                    self._queue[key] = worker
            for dropped_key, dropped in old.items():
                if dropped_key not in self._queue and self._current.get(dropped_key) is dropped:
                    dropped._cancelled = True
                    del self._current[dropped_key]
            self._cond.notify_all()
        for worker in inline:
            worker._execute(self._deliver_now)

    def cancel(self, key: K) -> None:
        """Supersede the worker in hand for `key` by nothing."""
        with self._cond:
            self._supersede(key)
            self._current.pop(key, None)

    def cancel_worker(self, worker: Worker[Any, Any]) -> None:
        with self._cond:
            worker._cancelled = True
            if self._queue.get(worker.key) is worker:
                del self._queue[worker.key]
            if self._current.get(worker.key) is worker:
                del self._current[worker.key]

    def pending(self) -> int:
        """Workers queued or running."""
        with self._cond:
            return len(self._queue) + self._running

    def in_hand(self, key: K, tag: Hashable) -> bool:
        """True when a worker for `key` with this (non-None) tag is queued or on its way."""
        with self._cond:
            return self._in_hand(key, tag) is not None

    def keys(self) -> set[K]:
        """Keys with a worker queued or on its way."""
        with self._cond:
            return cast("set[K]", set(self._current))  # a worker without a key is its key

    @property
    def closed(self) -> bool:
        return self._closed

    def shutdown(self, *, wait: bool = False, timeout_s: float = 30.0) -> None:
        """Drop the queue and deliver nothing more; running calls finish on their own.
        With `wait`, block until every thread has exited."""
        with self._cond:
            self._closed = True
            for worker in self._current.values():
                worker._cancelled = True
            self._queue.clear()
            self._current.clear()
            self._cond.notify_all()
        if wait:
            self.join(timeout_s)

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait for the threads to exit (after `shutdown`): then what they read may close."""
        for thread in self.threads:
            if thread is not threading.current_thread():
                thread.join(timeout=timeout_s)

    # -- internals (call with the lock held) ----------------------------------------------
    def _in_hand(self, key: Hashable, tag: Hashable) -> Worker[Any, Any] | None:
        current = self._current.get(key)
        if tag is not None and current is not None and current.tag == tag:
            return current
        return None

    def _supersede(self, key: Hashable) -> None:
        older = self._current.get(key)
        if older is not None:
            older._cancelled = True
            if self._queue.get(key) is older:
                del self._queue[key]

    # -- worker threads -------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                _, worker = self._queue.popitem(last=False)
                if worker._cancelled:
                    continue
                self._running += 1
            try:
                worker._execute(self._post)
            finally:
                with self._cond:
                    self._running -= 1

    def _post(self, worker: Worker[Any, Any], what: str, value: object) -> None:
        with contextlib.suppress(RuntimeError):  # the application is gone (exit)
            self._relay.call.emit(functools.partial(self._deliver_now, worker, what, value))

    # -- GUI thread (or the caller's, when synchronous) -----------------------------------
    def _deliver_now(self, worker: Worker[Any, Any], what: str, value: object) -> None:
        final = what != "yielded"
        with self._cond:
            closed = self._closed
            live = not closed and not worker._cancelled and self._current.get(worker.key) is worker
            if final and self._current.get(worker.key) is worker:
                del self._current[worker.key]
        if live:
            callbacks: list[Callable[[Any], object]] = getattr(worker, f"_{what}")
            if isinstance(value, Exception) and what == "errored" and not callbacks:
                log.warning("background work failed", exc_info=value)
            for callback in callbacks:
                _call(callback, value)
        if not final:
            return
        worker._done = True
        if closed:
            return
        for done in worker._finished:
            _call(done)
        if self._on_settled is not None:
            _call(self._on_settled)


_shared: KeyedExecutor[Hashable] | None = None
_shared_lock = threading.Lock()


def shared_executor() -> KeyedExecutor[Hashable]:
    """The process-wide executor for one-off calls (never shut down)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = KeyedExecutor(DEFAULT_THREADS, "tilescope-bg")
        return _shared
