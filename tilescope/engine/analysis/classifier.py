"""Object classifiers on measurements: trained with scikit-learn, kept and run as ONNX.

Training is deterministic (fixed seed). The model is written through skl2onnx with its feature
list, class names and kind in the ONNX metadata, and loaded back with ONNX Runtime only:
no pickle, so a classifier file from someone else can run no code. Missing measurements (NaN)
are replaced by the training median, stored with the model. `ThresholdClassifier` is the
single-feature rule ("Positive" if dab_od_mean > t) of IHC scoring.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tilescope.engine.errors import FileProblemError, InputError

SEED = 0
KINDS = ("random_forest", "gradient_boosting")
_META_KEY = "tilescope_classifier"
_BATCH = 262_144


@dataclass(frozen=True, slots=True)
class ThresholdClassifier:
    """`above` where feature > threshold, else `below` (NaN: unclassified, None)."""

    feature: str
    threshold: float
    above: str = "Positive"
    below: str | None = "Negative"

    @classmethod
    def parse(
        cls, text: str, above: str = "Positive", below: str | None = "Negative"
    ) -> ThresholdClassifier:
        """From ``FEATURE>VALUE`` (also ``FEATURE<VALUE``: the classes swap)."""
        for op in (">", "<"):
            name, sep, value = text.partition(op)
            if sep:
                try:
                    threshold = float(value)
                except ValueError:
                    break
                if not name.strip() or not math.isfinite(threshold):
                    break
                if op == ">":
                    return cls(name.strip(), threshold, above, below)
                return cls(name.strip(), threshold, below or "", above or None)
        raise InputError(
            "--threshold", f"must be FEATURE>VALUE, e.g. dab_od_mean>0.2, got {text!r}"
        )

    @property
    def features(self) -> list[str]:
        return [self.feature]

    @property
    def classes(self) -> list[str]:
        return [c for c in (self.above, self.below) if c]

    def predict(self, features: np.ndarray) -> list[str | None]:
        """Class per row of an (n, 1) matrix (or n values)."""
        values = np.asarray(features, dtype=np.float64).reshape(len(features), -1)[:, 0]
        out = np.full(len(values), None, dtype=object)
        out[values > self.threshold] = self.above
        out[values <= self.threshold] = self.below
        return out.tolist()


INTENSITY_CLASSES = ("Negative", "1+", "2+", "3+")


@dataclass(frozen=True, slots=True)
class IntensityClassifier:
    """QuPath's positive cell scoring: Negative, 1+, 2+, 3+ by three rising thresholds of one
    feature (e.g. DAB OD); the summary turns the classes into an H-score."""

    feature: str
    thresholds: tuple[float, float, float]

    def __post_init__(self) -> None:
        t = self.thresholds
        if len(t) != 3 or not all(math.isfinite(v) for v in t) or not t[0] < t[1] < t[2]:
            raise InputError("thresholds", f"need three rising numbers, got {t!r}")

    @property
    def features(self) -> list[str]:
        return [self.feature]

    @property
    def classes(self) -> list[str]:
        return list(INTENSITY_CLASSES)

    def predict(self, features: np.ndarray) -> list[str | None]:
        values = np.asarray(features, dtype=np.float64).reshape(len(features), -1)[:, 0]
        level = sum((values > t).astype(np.int64) for t in self.thresholds)
        out = np.array(INTENSITY_CLASSES, dtype=object)[level]
        out[np.isnan(values)] = None
        return out.tolist()


def parse_threshold(
    text: str, above: str = "Positive", below: str | None = "Negative"
) -> ThresholdClassifier | IntensityClassifier:
    """``FEATURE>VALUE`` (two classes) or ``FEATURE>T1,T2,T3`` (Negative/1+/2+/3+)."""
    name, sep, values = text.partition(">")
    if sep and values.count(",") == 2:
        try:
            t1, t2, t3 = (float(v) for v in values.split(","))
        except ValueError:
            raise InputError("--threshold", f"must be FEATURE>T1,T2,T3, got {text!r}") from None
        return IntensityClassifier(name.strip(), (t1, t2, t3))
    return ThresholdClassifier.parse(text, above, below)


@dataclass
class ObjectClassifier:
    """A trained classifier: ONNX bytes plus the features and classes it was trained on."""

    onnx_bytes: bytes
    features: list[str]
    classes: list[str]
    kind: str
    fill: list[float]  # per-feature value used for missing measurements
    _session: object = field(default=None, repr=False)

    def _run(self) -> object:
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 2
            options.log_severity_level = 3
            self._session = ort.InferenceSession(
                self.onnx_bytes, options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def _prepare(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise InputError("features", f"need {len(self.features)} columns, got shape {x.shape}")
        missing = ~np.isfinite(x)
        if missing.any():
            x = np.where(missing, np.asarray(self.fill, dtype=np.float32)[None, :], x)
        return x

    def predict_index(self, features: np.ndarray) -> np.ndarray:
        """Class index per row (int64), in batches through ONNX Runtime."""
        x = self._prepare(features)
        session = self._run()
        name = session.get_inputs()[0].name  # type: ignore[attr-defined]
        out = np.empty(len(x), dtype=np.int64)
        for start in range(0, len(x), _BATCH):
            labels = session.run(None, {name: x[start : start + _BATCH]})[0]  # type: ignore[attr-defined]
            out[start : start + _BATCH] = np.asarray(labels).reshape(-1)
        return out

    def predict(self, features: np.ndarray) -> list[str]:
        names = np.array(self.classes, dtype=object)
        return names[self.predict_index(features)].tolist()

    def save(self, path: str | Path) -> None:
        target = Path(path)
        try:
            target.write_bytes(self.onnx_bytes)
        except OSError as error:
            raise FileProblemError(target, f"cannot write ({error.strerror})") from None

    @classmethod
    def load(cls, path: str | Path) -> ObjectClassifier:
        """Read an ONNX classifier written by `save`; refuses other ONNX files in one line."""
        import onnx

        source = Path(path)
        try:
            data = source.read_bytes()
        except OSError as error:
            raise FileProblemError(source, f"cannot read ({error.strerror})") from None
        try:
            model = onnx.load_from_string(data)
        except Exception:  # onnx raises its own DecodeError types
            raise FileProblemError(source, "not an ONNX file") from None
        meta = {p.key: p.value for p in model.metadata_props}
        if _META_KEY not in meta:
            raise FileProblemError(source, "an ONNX model, but not a tilescope object classifier")
        try:
            info = json.loads(meta[_META_KEY])
            return cls(
                data,
                list(info["features"]),
                list(info["classes"]),
                str(info["kind"]),
                [float(v) for v in info["fill"]],
            )
        except (ValueError, KeyError, TypeError):
            raise FileProblemError(source, "classifier metadata is damaged") from None


def train(
    features: np.ndarray,
    labels: Sequence[str],
    feature_names: Sequence[str],
    kind: str = "random_forest",
    *,
    trees: int = 50,
    max_depth: int | None = 12,
) -> ObjectClassifier:
    """Fit on labelled examples (rows of `features`) and convert to ONNX."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    x = np.asarray(features, dtype=np.float32)
    names = list(feature_names)
    if x.ndim != 2 or x.shape[1] != len(names) or not names:
        raise InputError("features", f"need one column per feature name, got shape {x.shape}")
    if len(labels) != len(x):
        raise InputError("labels", "need one class per example")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise InputError("examples", "need examples of at least two classes")
    y = np.searchsorted(np.array(classes), np.array(list(labels))).astype(np.int64)
    with np.errstate(all="ignore"):
        fill = np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0)
    fill = np.where(np.isfinite(fill), fill, 0.0).astype(np.float32)
    x = np.where(np.isfinite(x), x, fill[None, :])
    if kind == "random_forest":
        model = RandomForestClassifier(
            n_estimators=trees, max_depth=max_depth, random_state=SEED, n_jobs=1
        )
    elif kind == "gradient_boosting":
        model = GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=SEED)
    else:
        raise InputError("classifier", f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    model.fit(x, y)
    onnx_model = to_onnx(
        model, x[:1], options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3}
    )
    info = {"features": names, "classes": classes, "kind": kind, "fill": fill.tolist()}
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = _META_KEY, json.dumps(info)
    onnx_model.producer_name = "tilescope"
    return ObjectClassifier(onnx_model.SerializeToString(), names, classes, kind, fill.tolist())
