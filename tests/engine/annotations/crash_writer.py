"""Run as a subprocess by test_crash: writes edits in a loop, printing each committed one."""

from __future__ import annotations

import sys

import shapely

from tilescope.engine.annotations import Annotation
from tilescope.engine.annotations.store import AnnotationStore


def main(path: str) -> None:
    store = AnnotationStore(path)
    step = 0
    added: list[str] = []
    while True:
        step += 1
        batch = [
            Annotation(
                shapely.box(step * 3 + i, step, step * 3 + i + 2, step + 2), class_name="Tumor"
            )
            for i in range(3)
        ]
        store.add_many(batch)
        added.extend(a.id for a in batch)
        print("add", *[a.id for a in batch], flush=True)
        if step % 4 == 0:
            victim = added.pop(0)
            store.remove(victim)
            print("del", victim, flush=True)
        if step % 5 == 0:
            target = store.get(added[-1])
            assert target is not None
            store.update(target.evolve(class_name=f"Class {step}"))
            print("set", target.id, f"Class {step}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
