"""Held-out scores per organ/source group (numpy only; shared by training, tests, benchmarks).

Per tile: instance F1@0.5 counts, AJI and PQ (tilescope.engine.inference.metrics). Per
group: F1 from the pooled counts, AJI and PQ as the mean over the group's tiles (the
MoNuSeg convention: per image, then averaged). `macro` is the mean over groups, so a
source with many small tiles weighs as much as an organ with few large ones.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from tilescope.engine.inference.metrics import aji, instance_f1, panoptic_quality


@dataclass(frozen=True)
class TileScore:
    group: str
    name: str
    tp: int
    fp: int
    fn: int
    aji: float
    pq: float


def score_tile(group: str, name: str, truth: np.ndarray, pred: np.ndarray) -> TileScore:
    det = instance_f1(truth, pred)
    return TileScore(
        group,
        name,
        det.true_positives,
        det.false_positives,
        det.false_negatives,
        aji(truth, pred),
        panoptic_quality(truth, pred),
    )


def summarise(scores: list[TileScore]) -> dict[str, dict[str, float]]:
    """{group: {f1, aji, pq, tiles, nuclei}} plus "macro" (mean of the groups' figures)."""
    by_group: dict[str, list[TileScore]] = defaultdict(list)
    for s in scores:
        by_group[s.group].append(s)
    out: dict[str, dict[str, float]] = {}
    for group, items in sorted(by_group.items()):
        tp = sum(s.tp for s in items)
        fp = sum(s.fp for s in items)
        fn = sum(s.fn for s in items)
        out[group] = {
            "f1": round(2 * tp / max(1, 2 * tp + fp + fn), 4),
            "aji": round(float(np.mean([s.aji for s in items])), 4),
            "pq": round(float(np.mean([s.pq for s in items])), 4),
            "tiles": len(items),
            "nuclei": tp + fn,
        }
    groups = [v for k, v in out.items()]
    out["macro"] = {
        key: round(float(np.mean([g[key] for g in groups])), 4) for key in ("f1", "aji", "pq")
    } | {"tiles": sum(g["tiles"] for g in groups), "nuclei": sum(g["nuclei"] for g in groups)}
    return out


def format_summary(summary: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{g} F1={v['f1']:.3f} AJI={v['aji']:.3f} PQ={v['pq']:.3f}" for g, v in summary.items()
    )


def best_on_holdout(results: list[dict[str, float]]) -> dict[str, float]:
    """The grid row with the best macro F1 + AJI + PQ (ties: AJI): one rule for every model."""
    return max(results, key=lambda r: (r["f1"] + r["aji"] + r["pq"], r["aji"]))
