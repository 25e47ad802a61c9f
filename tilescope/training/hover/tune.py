"""Post-processing thresholds chosen on training tiles, never on the held-out split.

The network's maps are computed once per tile; then each (np_threshold, edge_threshold)
pair of the grid is scored (macro AJI over the tuning groups). The tuning tiles are
MoNuSeg training organs and a brain source: the model has seen them, so their absolute
scores flatter it, but the held-out split stays untouched for the card's figures.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import torch

from tilescope.plugins.hover.postprocess import PostprocessParams, instance_labels
from tilescope.training.corpus import load_corpus, split_corpus
from tilescope.training.corpus.scores import score_tile, summarise
from tilescope.training.corpus.split import group_of
from tilescope.training.hover.model import load_model
from tilescope.training.hover.train import predict_maps

NP_THRESHOLDS = (0.5, 0.6, 0.7)
EDGE_THRESHOLDS = (-0.03, 0.0, 0.03, 0.06)
MAX_AREAS = (1000, 2000)
TUNING_GROUPS = ("monuseg:lung", "monuseg:prostate", "monuseg:stomach", "gbm40_emory")


def tune(checkpoint: Path, data: Path, tiles_per_group: int = 4) -> dict[str, Any]:
    torch.set_num_threads(1)
    model, _ = load_model(checkpoint)
    tiles, _, _ = load_corpus(data, log=lambda _line: None)
    train = split_corpus(tiles).train
    chosen = []
    for group in TUNING_GROUPS:
        chosen += [t for t in train if group_of(t) == group][:tiles_per_group]
    maps = [predict_maps(model, t.image, torch.device("cpu")) for t in chosen]
    results = []
    for np_t, edge_t, max_a in itertools.product(NP_THRESHOLDS, EDGE_THRESHOLDS, MAX_AREAS):
        params = PostprocessParams(np_threshold=np_t, edge_threshold=edge_t, max_area=max_a)
        scores = [
            score_tile(group_of(t), t.name, t.labels, instance_labels(p, hv, params))
            for t, (p, hv) in zip(chosen, maps, strict=True)
        ]
        macro = summarise(scores)["macro"]
        chosen_params = {"np_threshold": np_t, "edge_threshold": edge_t, "max_area": max_a}
        results.append(chosen_params | macro)
    best = max(results, key=lambda r: (r["aji"], r["pq"]))
    return {"best": best, "grid": results, "tiles": [t.key for t in chosen]}


if __name__ == "__main__":
    import json
    import sys

    out = tune(
        Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else Path("../shared/data/nuclei")
    )
    for row in out["grid"]:
        print(row)
    print(json.dumps(out["best"]))
