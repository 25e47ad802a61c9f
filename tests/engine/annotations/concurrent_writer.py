"""Run as a subprocess by test_concurrency: adds `count` objects one transaction at a time."""

from __future__ import annotations

import sys

import shapely

from tilescope.engine.annotations import Annotation
from tilescope.engine.annotations.store import AnnotationStore

if __name__ == "__main__":
    path, count = sys.argv[1], int(sys.argv[2])
    with AnnotationStore(path) as store:
        for i in range(count):
            store.add(Annotation(shapely.box(i, 5000, i + 1, 5001), class_name="Process"))
    print("done", flush=True)
