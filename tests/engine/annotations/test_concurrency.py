"""Two threads and a second process write one store at the same time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import shapely

from tilescope.engine.annotations import Annotation, ChangeEvent
from tilescope.engine.annotations.store import AnnotationStore

REPO = Path(__file__).resolve().parents[3]


def test_threads_and_process_write_together(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite"
    store = AnnotationStore(path)
    events: list[ChangeEvent] = []
    store.subscribe(events.append)
    per_thread, per_process = 150, 150
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.engine.annotations.concurrent_writer",
            str(path),
            str(per_process),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    errors: list[BaseException] = []

    def write(name: str, y: int) -> None:
        try:
            for i in range(per_thread):
                if i % 10 == 9:  # mix in batches and removals
                    ids = store.add_many(
                        [Annotation(shapely.box(i, y + 50, i + 1, y + 51), class_name=name)] * 1
                    )
                    store.remove_many(ids)
                store.add(Annotation(shapely.box(i, y, i + 1, y + 1), class_name=name))
                if i % 25 == 0:
                    store.query((0, 0, 10_000, 10_000))
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(f"Thread {t}", t * 100)) for t in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    out, _ = process.communicate(timeout=120)
    assert not errors, errors
    assert process.returncode == 0 and "done" in out
    assert store.count_by_class() == {
        "Thread 0": per_thread,
        "Thread 1": per_thread,
        "Process": per_process,
    }
    local_added = set().union(*(e.added for e in events))
    assert len(local_added) == 2 * per_thread + 2 * (per_thread // 10)
    external = store.poll()
    assert external is not None and len(external.added) >= per_process
    assert store.integrity_check() == "ok"
    store.close()
