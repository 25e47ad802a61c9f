"""`nuclei-he` (pixel-instances) next to `nuclei-maskrcnn`, in one process, on the same region.

For each model: the engine end to end (`run_on_slide`: reads, pre-processing, ONNX Runtime,
post-processing, seams) timed on the same region of the demo slide at 0.5 um/px, best of
`--repeat`; then the bare ``session.run`` over the same tiles and the post-processing alone
over its outputs, so the post-processing share is measured, not guessed. Prints Mpx/s
(region megapixels at the model's resolution per second; tissue detection off, so both
models see every tile) and each model's ratio to the last one. `MODEL:float` runs a model's
float weights where its folder also ships int8 weights for the CPU (which it runs otherwise),
so both are measured side by side.

    .venv/bin/python -m benchmarks hover [--roi X,Y,W,H] [--threads N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tilescope.engine.inference.runner import RunOptions, _plan, read_tile, run_on_slide  # noqa: E402
from tilescope.engine.settings import KEYS_BY_NAME  # noqa: E402
from tilescope.engine.slide import open_slide  # noqa: E402
from tilescope.plugins.catalog import load_model  # noqa: E402
from tilescope.resources import demo_slide_path  # noqa: E402

INT8_SETTING = KEYS_BY_NAME["cpu_int8_weights"].env


def measure(spec: str, slide: Any, options: RunOptions, threads: int, repeat: int) -> dict:
    model_id, _, variant = spec.partition(":")
    if variant == "float":
        os.environ[INT8_SETTING] = "false"
    try:
        return _measure(model_id, slide, options, threads, repeat) | {"model": spec}
    finally:
        os.environ.pop(INT8_SETTING, None)


def _measure(model_id: str, slide: Any, options: RunOptions, threads: int, repeat: int) -> dict:
    model = load_model(model_id, device="cpu", threads=threads)
    tiles, _, downsample = _plan(slide, model, options, [])
    batch = model.tile_spec().batch_size
    batches = [tiles[i : i + batch] for i in range(0, len(tiles), batch)]
    fed = [model.preprocess([read_tile(slide, t) for t in b]) for b in batches]
    model.run(fed[0])  # warm-up
    t_run = float("inf")
    outputs: list[list[Any]] = []
    for _ in range(repeat):
        start = time.perf_counter()
        outputs = [model.run(inputs) for inputs in fed]
        t_run = min(t_run, time.perf_counter() - start)
    start = time.perf_counter()
    for b, out in zip(batches, outputs, strict=True):
        model.postprocess(out, b)
    t_post = time.perf_counter() - start
    t_engine = float("inf")
    objects = 0
    for _ in range(repeat):
        start = time.perf_counter()
        summary = run_on_slide(slide, model, options)
        t_engine = min(t_engine, time.perf_counter() - start)
        objects = len(summary.annotations)
    _, _, w, h = options.region or (0, 0, slide.metadata.width, slide.metadata.height)
    mpx = (w / downsample) * (h / downsample) / 1e6
    return {
        "model": model_id,
        "weights": model.model.onnx_path.name,
        "tiles": len(tiles),
        "patch": model.tile_spec().patch_size[0],
        "mpx": mpx,
        "engine_s": t_engine,
        "run_s": t_run,
        "post_s": t_post,
        "objects": objects,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slide", default=str(demo_slide_path()))
    parser.add_argument("--roi", default="all", help="X,Y,W,H level-0, or all (whole slide)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--models", default="nuclei-he,nuclei-he:float,nuclei-maskrcnn")
    args = parser.parse_args()
    region = None if args.roi == "all" else tuple(float(v) for v in args.roi.split(","))
    options = RunOptions(region=region, tissue_detection=False)  # type: ignore[arg-type]
    rows = []
    with open_slide(args.slide) as slide:
        for model_id in args.models.split(","):
            rows.append(measure(model_id, slide, options, args.threads, args.repeat))
    print(
        f"slide: {Path(args.slide).name}; roi: {args.roi}; "
        f"ONNX Runtime CPU, {args.threads} thread(s)"
    )
    print(
        "model              weights                   tiles  Mpx   engine s  Mpx/s   "
        "session.run s  post s  post share  nuclei"
    )
    for r in rows:
        share = r["post_s"] / (r["run_s"] + r["post_s"])
        print(
            f"{r['model']:<18} {r['weights']:<25} {r['tiles']:>5} {r['mpx']:5.2f} "
            f"{r['engine_s']:9.2f} {r['mpx'] / r['engine_s']:6.3f} {r['run_s']:14.2f} "
            f"{r['post_s']:7.2f} {share:10.0%} {r['objects']:7d}"
        )
    last = rows[-1]
    for r in rows[:-1]:
        ratio = (r["mpx"] / r["engine_s"]) / (last["mpx"] / last["engine_s"])
        print(f"Mpx/s {r['model']} / {last['model']}: {ratio:.2f}x (same run)")


if __name__ == "__main__":
    main()
