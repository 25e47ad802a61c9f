"""Object classifiers: learn a held-out rule from 40 examples, ONNX round trip, store flow."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
import shapely

from tests.engine.analysis.real_data import miccai
from tilescope.engine.analysis.classifier import ObjectClassifier, ThresholdClassifier, train
from tilescope.engine.analysis.measure import measure_objects, measure_store
from tilescope.engine.analysis.training import EXAMPLE_KEY, apply_to_store, store_examples
from tilescope.engine.annotations import Annotation, ObjectKind, ShapeType
from tilescope.engine.annotations.store import AnnotationStore
from tilescope.engine.errors import FileProblemError, InputError
from tilescope.engine.inference.memory_slide import ArraySlide


def _measured() -> tuple[list[str], np.ndarray]:
    rgb, _, _, polygons = miccai("image08")
    columns = measure_objects(ArraySlide(rgb, mpp=0.25), polygons, 0.25)
    names = list(columns)
    return names, np.column_stack([columns[n] for n in names])


@pytest.mark.parametrize("kind", ["random_forest", "gradient_boosting"])
def test_forty_examples_reproduce_a_held_out_rule(kind: str) -> None:
    names, x = _measured()
    feature = x[:, names.index("hematoxylin_od_mean")]
    rule = np.where(feature > np.median(feature), "Dark", "Pale")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train_rows, held_out = order[:40], order[40:]
    model = train(x[train_rows], rule[train_rows].tolist(), names, kind)
    predicted = np.array(model.predict(x[held_out]))
    assert len(held_out) > 200
    assert np.mean(predicted == rule[held_out]) > 0.9
    again = train(x[train_rows], rule[train_rows].tolist(), names, kind)
    assert again.onnx_bytes == model.onnx_bytes  # deterministic: fixed seed


def test_onnx_round_trip_keeps_features_and_classes_without_pickle(tmp_path: Path) -> None:
    names, x = _measured()
    labels = np.where(x[:, 0] > np.median(x[:, 0]), "Big", "Small").tolist()
    model = train(x[:60], labels[:60], names)
    path = tmp_path / "clf.onnx"
    model.save(path)
    loaded = ObjectClassifier.load(path)
    assert loaded.features == names and loaded.classes == ["Big", "Small"]
    assert loaded.predict(x) == model.predict(x)
    onnx.checker.check_model(onnx.load(path))
    assert not path.read_bytes().startswith(b"\x80")  # not a pickle stream
    rows = x.copy()
    rows[:, 3] = np.nan  # a missing measurement uses the training median
    assert len(loaded.predict(rows)) == len(rows)
    fake = tmp_path / "model.onnx"
    fake.write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(FileProblemError, match="not an ONNX file"):
        ObjectClassifier.load(fake)


def test_threshold_rule_parsing() -> None:
    rule = ThresholdClassifier.parse("dab_od_mean>0.2")
    assert rule.predict(np.array([0.1, 0.3, np.nan])) == ["Negative", "Positive", None]
    flipped = ThresholdClassifier.parse("area_um2<30", above="Small", below="Large")
    assert flipped.predict(np.array([10.0, 50.0])) == ["Small", "Large"]
    with pytest.raises(InputError, match="FEATURE>VALUE"):
        ThresholdClassifier.parse("dab_od_mean")


def test_store_flow_examples_points_train_apply(tmp_path: Path) -> None:
    rgb, _, _, polygons = miccai("image01")
    slide = ArraySlide(rgb, mpp=0.5)
    with AnnotationStore(tmp_path / "s.sqlite") as store:
        run = store.add_run("truth")
        ids = store.add_detections(polygons, None, run_id=run.run_id)
        measure_store(store, slide, 0.5, run_id=run.run_id)
        area = store.measurement_matrix(ids, ["area_um2"])[1][:, 0]
        cut = float(np.median(area))
        # 30 labelled detections and 10 points dropped on others.
        labelled = [
            a.evolve(properties={EXAMPLE_KEY: "Large" if area[i] > cut else "Small"})
            for i, a in enumerate(store.get_many(ids[:30]))
        ]
        store.update_many(labelled)
        for i in range(30, 40):
            point = polygons[i].representative_point()
            store.add(Annotation(point, ShapeType.POINT, "Large" if area[i] > cut else "Small"))
        examples = store_examples(store)
        assert len(examples) == 40
        chosen = ["area_um2", "perimeter_um", "minor_axis_um"]  # the features the user picked
        x = store.measurement_matrix(examples.ids, chosen)
        model = train(x[1], examples.labels, x[0])
        counts = apply_to_store(store, model, run_id=run.run_id)
        assert sum(counts.values()) == len(ids)
        got = {a.id: a.class_name for a in store.query(kind=ObjectKind.DETECTION)}
        truth = {i: ("Large" if area[k] > cut else "Small") for k, i in enumerate(ids)}
        assert np.mean([got[i] == truth[i] for i in ids]) > 0.9
        assert all(got[i] == truth[i] for i in ids[:30])  # examples keep their labels
        threshold = ThresholdClassifier("area_um2", cut, "Large", "Small")
        apply_to_store(store, threshold)
        got = {a.id: a.class_name for a in store.query(kind=ObjectKind.DETECTION)}
        assert all(got[i] == truth[i] for i in ids)
        with pytest.raises(InputError, match="not measured"):
            apply_to_store(store, ThresholdClassifier("nothing", 1.0))
        assert shapely.area(polygons).sum() > 0
