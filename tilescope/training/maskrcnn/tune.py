"""Runtime thresholds of an exported Mask R-CNN chosen on the held-out split.

`score_threshold` (which detections become nuclei) and `mask_threshold` (where a nucleus'
28 x 28 mask probability becomes its outline) are plugin parameters, so each point of the
grid runs the whole runtime path on the held-out tiles: no shortcut that could differ from
what a user runs. The rule is the one `hover` uses (`best_on_holdout`: macro F1 + AJI + PQ).
Issue 12 asks for model selection on that split; the card then says its figures come from
the split the thresholds were chosen on, so they lean slightly optimistic.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from tilescope.training.corpus.scores import best_on_holdout

SCORE_THRESHOLDS = (0.4, 0.5, 0.6)
MASK_THRESHOLDS = (0.4, 0.5, 0.6, 0.7)


def tune_thresholds(folder: Path, data: Path, log: Any = print) -> dict[str, Any]:
    """{"best": row, "grid": rows}: each row the thresholds plus the macro figures."""
    from tilescope.plugins.catalog import load_model
    from tilescope.training.corpus.runtime_eval import evaluate_instances, holdout_tiles

    model = load_model(folder, device="cpu")
    tiles = holdout_tiles(data)
    rows = []
    for score_t, mask_t in itertools.product(SCORE_THRESHOLDS, MASK_THRESHOLDS):
        model.set_parameters({"score_threshold": score_t, "mask_threshold": mask_t})
        summary, _, seconds = evaluate_instances(model, tiles)
        macro = summary["macro"]
        row = {"score_threshold": score_t, "mask_threshold": mask_t} | {
            k: round(float(macro[k]), 4) for k in ("f1", "aji", "pq")
        }
        rows.append(row)
        log(f"tune {row} ({seconds:.0f}s)")
    return {"best": best_on_holdout(rows), "grid": rows, "on": "holdout"}
