"""Mask R-CNN (`nuclei-maskrcnn`) through tilescope's engine versus bare ``session.run``.

One process, one ONNX Runtime session, the same tiles and batch size:

- bare: the tiles the engine would run (same plan, background removed) are read and
  pre-processed first; then only ``session.run`` is timed, one image per call as the
  engine feeds this graph (detections differ in number per image);
- engine: ``run_on_slide`` end to end (tissue detection, reads, pre-processing, model,
  mask pasting and polygons in the post-processing thread, centroid-in-core rule);
- post-processing alone: pasting + polygons of the bare run's outputs, timed separately.

Prints tiles/s, Mpx/s and Mpx/s per core (the region's pixels at the model's resolution) and
the engine/bare ratio, measured side by side in this run; with ``--holdout`` also the model's
held-out accuracy through the same runtime (tilescope.training.corpus.runtime_eval), so speed
and accuracy are reported together.

    python -m benchmarks maskrcnn [--roi X,Y,W,H] [--slide PATH] [--threads N] [--holdout]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tilescope.engine.inference.runner import RunOptions, _plan, read_tile, run_on_slide  # noqa: E402
from tilescope.engine.inference.sessions import default_threads  # noqa: E402
from tilescope.engine.slide import open_slide  # noqa: E402
from tilescope.plugins.catalog import load_model  # noqa: E402
from tilescope.resources import demo_slide_path  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nuclei-maskrcnn")
    parser.add_argument("--slide", default=str(demo_slide_path()))
    parser.add_argument("--roi", default="400,600,1344,1344", help="X,Y,W,H level-0; 'all'")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--holdout", action="store_true", help="also score the held-out split (needs ../shared)"
    )
    args = parser.parse_args()
    region = None if args.roi == "all" else tuple(float(v) for v in args.roi.split(","))
    options = RunOptions(region=region)  # type: ignore[arg-type]

    model = load_model(args.model, device=args.device, threads=args.threads)
    session = model.session
    batch_size = model.tile_spec().batch_size
    input_name = model.input_name()
    wanted = list(model.names.required())
    with open_slide(args.slide) as slide:
        tiles, background, downsample = _plan(slide, model, options, [])
        _, _, width, height = region or (0, 0, slide.metadata.width, slide.metadata.height)
        mpx = (width / downsample) * (height / downsample) / 1e6
        batches = [tiles[i : i + batch_size] for i in range(0, len(tiles), batch_size)]
        fed = [model.preprocess([read_tile(slide, t) for t in batch]) for batch in batches]
        session.run(wanted, {input_name: fed[0][input_name][:1]})  # warm-up, for everyone

        def bare() -> tuple[float, list]:  # type: ignore[type-arg]
            outputs = []
            start = time.perf_counter()
            for inputs in fed:
                flat = []
                for image in inputs[input_name]:
                    flat.extend(session.run(wanted, {input_name: image[None]}))
                outputs.append(flat)
            return time.perf_counter() - start, outputs

        def engine() -> tuple[float, int]:
            start = time.perf_counter()
            summary = run_on_slide(slide, model, options)
            return time.perf_counter() - start, len(summary.annotations)

        bare_runs = [bare() for _ in range(args.repeat)]
        t_bare, outputs = min(bare_runs, key=lambda r: r[0])
        start = time.perf_counter()
        for batch, flat in zip(batches, outputs, strict=True):
            model.postprocess(flat, batch)
        t_post = time.perf_counter() - start
        t_engine, objects = min(engine() for _ in range(args.repeat))

    n = len(tiles)
    print(
        f"slide: {Path(args.slide).name}; roi: {args.roi}; model: {args.model}; "
        f"provider: {session.get_providers()[0]}; threads: {args.threads}; batch: {batch_size}"
    )
    print(f"tiles planned: {n + len(background)}; background skipped: {len(background)}; run: {n}")
    print(f"bare session.run:          {t_bare:7.2f} s  {n / t_bare:6.2f} tiles/s")
    print(f"post-processing alone:     {t_post:7.2f} s  ({1000 * t_post / n:.0f} ms/tile)")
    print(
        f"engine end to end:         {t_engine:7.2f} s  {n / t_engine:6.2f} tiles/s  "
        f"overhead ratio {t_engine / t_bare:.2f}  ({objects} nuclei)"
    )
    print(
        f"throughput:                {mpx:.2f} Mpx at the model's resolution, "
        f"{mpx / t_engine:.3f} Mpx/s, {mpx / t_engine / args.threads:.3f} Mpx/s per core"
    )
    if args.holdout:
        from tilescope.training.corpus.runtime_eval import evaluate_instances, holdout_tiles
        from tilescope.training.corpus.scores import format_summary

        summary, _, seconds = evaluate_instances(model, holdout_tiles())
        print(f"held-out split ({seconds:.0f} s): {format_summary(summary)}")


if __name__ == "__main__":
    main()
