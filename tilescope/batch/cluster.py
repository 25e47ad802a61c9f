"""Run slide tasks on a Dask cluster: `local:N` (a LocalCluster) or `tcp://HOST:PORT`.

Each slide is one Dask task; workers run ONNX Runtime with one intra-op thread and write
results exactly where a local run would (so the output folder must be shared storage on a
real cluster). Tile progress travels back through a Dask queue; a worker that dies is retried
once, a bad slide comes back as a failed outcome and the batch goes on. Dask is the optional
`tilescope[cluster]` extra.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from tilescope.batch.tasks import (
    SlideOutcome,
    run_slide_task,
    single_threaded_worker_environment,
)
from tilescope.engine.errors import TilescopeError
from tilescope.engine.inference.job import JobSpec
from tilescope.engine.inference.progress import CancelToken, ProgressReport

_LOCAL = re.compile(r"^local(?::(\d+))?$")
PROGRESS_INTERVAL_S = 0.5


class ClusterError(TilescopeError):
    """The cluster address is wrong, Dask is missing, or the scheduler cannot be reached."""


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError("--cluster needs Dask: pip install 'tilescope[cluster]'") from None
    return distributed


def connect(address: str) -> tuple[Any, Any | None]:
    """(client, local cluster or None) for `local:N` or a scheduler address."""
    distributed = _import_distributed()
    match = _LOCAL.match(address)
    if match:
        workers = int(match.group(1) or 2)
        if workers < 1:
            raise ClusterError(f"--cluster local:N needs N >= 1, got {address!r}")
        single_threaded_worker_environment()  # inherited by the worker processes
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=50,
        )
        return distributed.Client(cluster), cluster
    if not address.startswith(("tcp://", "tls://", "ucx://")):
        raise ClusterError(
            f"--cluster must be local:N or a scheduler address such as tcp://HOST:8786, "
            f"got {address!r}"
        )
    try:
        return distributed.Client(address, timeout="10s"), None
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {error}") from None


def _worker_entry(task: JobSpec, queue_name: str, stop_name: str) -> SlideOutcome:
    """Runs on a worker: one thread, progress into the queue, stop when the client asks."""
    from distributed import Queue, Variable

    single_threaded_worker_environment()
    queue = Queue(queue_name)
    stop = Variable(stop_name)
    cancel = CancelToken()
    last = 0.0

    def stop_asked() -> bool:
        try:
            return bool(stop.get(timeout=0.05))
        except Exception:  # the variable is unset until the client cancels
            return False

    def progress(report: ProgressReport) -> None:
        nonlocal last
        if stop_asked():
            cancel.cancel()
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL_S or report.done == report.total:
            last = now
            queue.put((str(task.slide), report.done, report.total))

    return run_slide_task(replace(task, threads=1), progress, cancel)


def run_on_cluster(
    tasks: Sequence[JobSpec],
    address: str,
    on_progress: Callable[[str, int, int], None] | None = None,
    on_outcome: Callable[[SlideOutcome], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[SlideOutcome]:
    """Run every task on the cluster; outcomes in completion order."""
    distributed = _import_distributed()
    client, cluster = connect(address)
    token = uuid.uuid4().hex
    queue_name, stop_name = f"tilescope-progress-{token}", f"tilescope-stop-{token}"
    outcomes: list[SlideOutcome] = []
    try:
        queue = distributed.Queue(queue_name, client=client)
        stop = distributed.Variable(stop_name, client=client)
        futures = {
            client.submit(
                _worker_entry, task, queue_name, stop_name, key=f"slide-{token}-{i}", retries=1
            ): task
            for i, task in enumerate(tasks)
        }
        pending = set(futures)
        stopping = False
        while pending:
            if should_stop is not None and should_stop() and not stopping:
                stopping = True
                stop.set(True)
            for message in queue.get(batch=True):
                if on_progress is not None:
                    on_progress(*message)
            done = {f for f in pending if f.done()}
            for future in done:
                pending.discard(future)
                outcome = _outcome_of(future, futures[future])
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
            if pending:
                time.sleep(0.1)
        for message in queue.get(batch=True):
            if on_progress is not None:
                on_progress(*message)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return outcomes


def _outcome_of(future: Any, task: JobSpec) -> SlideOutcome:
    try:
        outcome: SlideOutcome = future.result()
    except Exception as error:  # a worker died twice, or the task crashed: report, go on
        slide = str(task.slide)
        return SlideOutcome(slide, "failed", f"{slide}: worker failed: {error}")
    return outcome
