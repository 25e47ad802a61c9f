"""Run as a subprocess by test_store_packed_measurements: rewrites every object's measurements
(and, every third step, deletes and adds objects) in a loop, printing each committed step."""

from __future__ import annotations

import sys

import numpy as np
import shapely

from tilescope.engine.annotations.store import AnnotationStore


def main(path: str) -> None:
    store = AnnotationStore(path)
    ids = store.add_detections(shapely.buffer(shapely.points(np.arange(3000.0), 0), 0.4))
    step = 0
    while True:
        step += 1
        values = np.arange(len(ids), dtype=np.float64) + 1000.0 * step
        store.set_measurements(ids, {"a": values, "b": -values})
        print("measured", step, flush=True)
        if step % 3 == 0:
            gone = ids[-7:]
            del ids[-7:]
            store.remove_many(gone)  # the highest rids: the next adds reuse them
            ids += store.add_detections(shapely.buffer(shapely.points(np.arange(7.0), 5), 0.4))
            print("replaced", step, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
