"""Held-out figures measured through tilescope's runtime (ONNX Runtime, engine, plugins).

Automatic models: each held-out tile becomes an in-memory slide at the model mpp, the
engine's `run_on_slide` runs the model (its own tiling, seams and post-processing; tissue
detection off, every tile is tissue), the polygons are rasterised (higher scores painted
last) and scored per organ/source group (`scores`). Click models (NuClick): one click at the
inside point nearest each true nucleus' centroid, the other clicks of the tile in the
exclusion map as the GUI does, Dice of each result with its nucleus.

    python -m tilescope.training.corpus.runtime_eval --model nuclei-he [--clicks]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from tilescope.engine.inference.memory_slide import ArraySlide
from tilescope.engine.inference.metrics import rasterize
from tilescope.engine.inference.runner import RunOptions, run_on_slide
from tilescope.engine.inference.types import Prompt
from tilescope.training.corpus.scores import TileScore, format_summary, score_tile, summarise
from tilescope.training.corpus.sources import MODEL_MPP, CorpusTile, load_corpus
from tilescope.training.corpus.split import group_of, split_corpus

DEFAULT_DATA = Path("../shared/data/nuclei")


def holdout_tiles(data: Path = DEFAULT_DATA) -> list[CorpusTile]:
    tiles, _, _ = load_corpus(data, MODEL_MPP, log=lambda _line: None)
    return split_corpus(tiles).holdout


def predict_labels(model: Any, image: np.ndarray) -> np.ndarray:
    with ArraySlide(np.ascontiguousarray(image), mpp=MODEL_MPP) as slide:
        found = run_on_slide(slide, model, RunOptions(tissue_detection=False)).annotations
    ordered = sorted(found, key=lambda a: a.score or 0.0)
    return rasterize([a.geometry for a in ordered], image.shape[:2])


def evaluate_instances(
    model: Any, tiles: list[CorpusTile]
) -> tuple[dict[str, dict[str, float]], list[TileScore], float]:
    """(summary per group, per-tile scores, seconds) of an automatic model."""
    start = time.perf_counter()
    scores = [
        score_tile(group_of(t), t.name, t.labels, predict_labels(model, t.image)) for t in tiles
    ]
    return summarise(scores), scores, time.perf_counter() - start


def _inside_points(labels: np.ndarray) -> dict[int, tuple[float, float]]:
    """(x, y) pixel centre of the inside pixel nearest each object's centroid."""
    from scipy import ndimage as ndi

    out: dict[int, tuple[float, float]] = {}
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        rows, cols = np.nonzero(labels[box] == index)
        k = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
        out[index] = (cols[k] + box[1].start + 0.5, rows[k] + box[0].start + 0.5)
    return out


def evaluate_clicks(model: Any, tiles: list[CorpusTile]) -> dict[str, dict[str, float]]:
    """Mean Dice per clicked nucleus and the share with Dice >= 0.7, per group and macro."""
    dices: dict[str, list[float]] = defaultdict(list)
    for tile in tiles:
        points = _inside_points(tile.labels)
        ids = sorted(points)
        prompts = [Prompt("point", (points[i],)) for i in ids]
        with ArraySlide(np.ascontiguousarray(tile.image), mpp=MODEL_MPP) as slide:
            outcomes = model.segment(slide, prompts)
        for index, outcome in zip(ids, outcomes, strict=True):
            truth = tile.labels == index
            if outcome.annotation is None:
                dices[group_of(tile)].append(0.0)
                continue
            pred = rasterize([outcome.annotation.geometry], tile.labels.shape) > 0
            total = int(truth.sum() + pred.sum())
            dices[group_of(tile)].append(2.0 * int((truth & pred).sum()) / max(1, total))
    out = {
        g: {
            "mean_dice": round(float(np.mean(v)), 4),
            "share_dice_0.7": round(float(np.mean(np.array(v) >= 0.7)), 4),
            "nuclei": len(v),
        }
        for g, v in sorted(dices.items())
    }
    out["macro"] = {
        "mean_dice": round(float(np.mean([v["mean_dice"] for v in out.values()])), 4),
        "share_dice_0.7": round(float(np.mean([v["share_dice_0.7"] for v in out.values()])), 4),
        "nuclei": sum(int(v["nuclei"]) for v in out.values()),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    from tilescope.plugins.catalog import load_model

    parser = argparse.ArgumentParser(prog="python -m tilescope.training.corpus.runtime_eval")
    parser.add_argument("--model", required=True, help="model id or folder")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--clicks", action="store_true", help="a click model (NuClick)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    model = load_model(args.model, device="cpu", threads=args.threads)
    tiles = holdout_tiles(Path(args.data))
    start = time.perf_counter()
    if args.clicks:
        result: dict[str, Any] = {"clicks": evaluate_clicks(model, tiles)}
    else:
        summary, _, _ = evaluate_instances(model, tiles)
        result = {"instances": summary}
        print(format_summary(summary))
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
