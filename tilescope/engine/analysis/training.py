"""Labelled examples from a store, and applying a classifier to a store's objects.

An example is a detection the user labelled (its ``training_class`` property, set by the
classifier panel) or the detection under a classified point annotation dropped on it (QuPath's
way). Applying writes every object's class in one transaction; examples keep their own label
when the classifier has that class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from tilescope.engine.analysis.classifier import (
    IntensityClassifier,
    ObjectClassifier,
    ThresholdClassifier,
)
from tilescope.engine.annotations.model import ObjectKind
from tilescope.engine.annotations.store import AnnotationStore, BBox
from tilescope.engine.errors import InputError

EXAMPLE_KEY = "training_class"


@dataclass(frozen=True, slots=True)
class Examples:
    ids: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def detections_at(
    store: AnnotationStore, points: Iterable[tuple[float, float]], run_id: str | None = None
) -> list[str | None]:
    """The id of the detection containing each point (None where there is none)."""
    out: list[str | None] = []
    for x, y in points:
        found = store.query(
            (x, y, x, y), kind=ObjectKind.DETECTION, run_id=run_id, exact=True, limit=None
        )
        hit = [a for a in found if a.geometry.covers(shapely.Point(x, y))]
        out.append(min(hit, key=lambda a: a.geometry.area).id if hit else None)
    return out


def store_examples(store: AnnotationStore, run_id: str | None = None) -> Examples:
    """Labelled detections plus detections under classified point annotations."""
    labels: dict[str, str] = {}
    rows = store.property_values(EXAMPLE_KEY, kind=ObjectKind.DETECTION, run_id=run_id)
    labels.update((str(i), str(c)) for i, c in rows)
    points: list[tuple[float, float]] = []
    point_classes: list[str] = []
    for a in store.query(kind=ObjectKind.ANNOTATION):
        if a.class_name and a.geometry.geom_type in ("Point", "MultiPoint"):
            for part in getattr(a.geometry, "geoms", [a.geometry]):
                points.append((part.x, part.y))
                point_classes.append(a.class_name)
    for object_id, name in zip(detections_at(store, points, run_id), point_classes, strict=True):
        if object_id is not None:
            labels[object_id] = name
    return Examples(list(labels), list(labels.values()))


def feature_matrix(
    store: AnnotationStore, ids: Sequence[str], features: Sequence[str] | None
) -> tuple[list[str], np.ndarray]:
    """The measurements of these objects; InputError naming features nobody measured."""
    available = store.measurement_names()
    if not available:
        raise InputError(str(store.path), "no measurements yet: measure the objects first")
    wanted = list(features) if features else available
    known = {n.lower() for n in available}
    missing = [f for f in wanted if f.lower() not in known]
    if missing:
        raise InputError("features", f"not measured in this store: {', '.join(missing)}")
    return store.measurement_matrix(ids, wanted)


def apply_to_store(
    store: AnnotationStore,
    classifier: ObjectClassifier | ThresholdClassifier | IntensityClassifier,
    run_id: str | None = None,
    bbox: BBox | None = None,
    ids: Sequence[str] | None = None,
) -> dict[str, int]:
    """Classify detections (a run, a region's box, given ids, else all); returns counts.

    Works on rids and arrays only (no id string or Python float per object): a million
    objects are read from the packed measurements, classified and written by class.
    """
    rids = store.object_rids(ids=ids, run_id=run_id, bbox=bbox, kind=ObjectKind.DETECTION)
    if not len(rids):
        return {}
    feature_matrix(store, [], classifier.features)  # clear error for missing features
    _, matrix = store.measurement_matrix_for_rids(rids, classifier.features)
    if isinstance(classifier, ObjectClassifier):
        names: list[str | None] = list(classifier.classes)
        index = classifier.predict_index(matrix)
    else:
        predicted = classifier.predict(matrix)
        names = list(dict.fromkeys(predicted))
        code = {n: i for i, n in enumerate(names)}
        index = np.fromiter((code[p] for p in predicted), np.int64, len(predicted))
    # Examples keep the user's label when the classifier knows that class.
    examples = store_examples(store, run_id)
    known = set(classifier.classes)
    labelled = {i: c for i, c in zip(examples.ids, examples.labels, strict=True) if c in known}
    if labelled:
        table = store.object_table(ids=list(labelled), geometry=False)
        where = {int(r): labelled[i] for r, i in zip(table.rids, table.ids, strict=True)}
        position = np.flatnonzero(np.isin(rids, np.fromiter(where, np.int64, len(where))))
        for at in position.tolist():
            label = where[int(rids[at])]
            if label not in names:
                names.append(label)
            index[at] = names.index(label)
    store.set_class_codes(rids, index, names)
    counts = np.bincount(index, minlength=len(names))
    totals: dict[str, int] = {}
    for name, count in zip(names, counts.tolist(), strict=True):
        if count:
            totals[name or ""] = totals.get(name or "", 0) + count
    return dict(sorted(totals.items()))
