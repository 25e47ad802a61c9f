"""Whole-slide inference through tilescope's engine versus bare ``InferenceSession.run``.

One process, one ONNX Runtime session, the same model and batch size:

- bare: the tiles the engine would run (same plan, background already removed) are read and
  pre-processed first, then only ``session.run`` is timed over them;
- engine (no type post-processing): ``run_on_slide`` end to end (tissue detection, reads,
  pre-processing, model, stitching) with the type's post-processing reduced to the
  probability map (U-Net) or nothing (Mask R-CNN) -- the engine's own overhead ratio;
- engine (full): the same with the type's own post-processing (U-Net: seeded watershed and
  polygons; Mask R-CNN: mask pasting and polygons), reported separately.

Also tiles/s and the share of the plan skipped as background. Runs are interleaved and the
best of `--repeat` of each kind is reported (the least disturbed on a shared machine).

    .venv/bin/python -m benchmarks.bench_inference [--model nuclei-he] [--slide PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tilescope.engine.inference.runner import RunOptions, _plan, read_tile, run_on_slide
from tilescope.engine.inference.sessions import default_threads
from tilescope.engine.inference.types import TileInfo, TileResult
from tilescope.engine.slide import open_slide
from tilescope.plugins.base import ModelType
from tilescope.plugins.catalog import load_model

REPO_ROOT = Path(__file__).resolve().parents[1]
CMU_SMALL = REPO_ROOT.parent / "shared" / "data" / "slides" / "CMU-1-Small-Region.svs"


def without_postprocessing(model):  # type: ignore[no-untyped-def]
    """The same model with its post-processing cut down: the probability map only (U-Net),
    or nothing at all (types without a map, e.g. Mask R-CNN)."""

    class Light(type(model)):  # type: ignore[misc]
        def postprocess(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[TileResult]:
            if hasattr(self, "probabilities"):
                return [TileResult(probabilities=p) for p in self.probabilities(outputs[0])]
            return [TileResult() for _ in tiles]

    return Light(model.model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nuclei-he")
    parser.add_argument("--slide", default=str(CMU_SMALL))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--roi", help="X,Y,W,H in level-0 pixels (default: whole slide)")
    args = parser.parse_args()

    model = load_model(args.model, device=args.device, threads=args.threads)
    session = model.session
    batch_size = model.tile_spec().batch_size
    with open_slide(args.slide) as slide:
        notes: list[str] = []
        region = tuple(float(v) for v in args.roi.split(",")) if args.roi else None
        options = RunOptions(region=region)  # type: ignore[arg-type]
        tiles, background, _ = _plan(slide, model, options, notes)
        planned = len(tiles) + len(background)
        batches = [tiles[i : i + batch_size] for i in range(0, len(tiles), batch_size)]
        fed = [model.preprocess([read_tile(slide, t) for t in batch]) for batch in batches]
        # A type whose own run() loops over single images (Mask R-CNN) is timed through
        # that loop, which only calls session.run; others straight through session.run.
        own_run = type(model).run is not ModelType.run

        def call(inputs: dict[str, np.ndarray]) -> None:
            if own_run:
                model.run(inputs)
            else:
                session.run(None, inputs)

        call(fed[0])  # warm-up, for everyone

        def bare() -> float:
            start = time.perf_counter()
            for inputs in fed:
                call(inputs)
            return time.perf_counter() - start

        def engine(m) -> tuple[float, int]:  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            summary = run_on_slide(slide, m, options)
            return time.perf_counter() - start, len(summary.annotations)

        light = without_postprocessing(model)
        # Interleaved, best of each: on a shared machine the least disturbed run of each kind.
        bares, lights, fulls = [], [], []
        for _ in range(args.repeat):
            bares.append(bare())
            lights.append(engine(light)[0])
            fulls.append(engine(model))
        t_bare, t_maps = min(bares), min(lights)
        t_full, objects = min(fulls)

    provider = session.get_providers()[0]
    n = len(tiles)
    print(
        f"slide: {Path(args.slide).name}; model: {args.model}; provider: {provider}; "
        f"threads: {args.threads}; batch size: {batch_size}"
    )
    print(
        f"tiles planned: {planned}; background skipped: {len(background)} "
        f"({100 * len(background) / planned:.0f}%); run: {n}"
    )
    print(f"bare session.run:        {t_bare:7.2f} s  {n / t_bare:6.2f} tiles/s")
    print(
        f"engine, no type postproc:{t_maps:7.2f} s  {n / t_maps:6.2f} tiles/s  "
        f"overhead ratio {t_maps / t_bare:.2f}"
    )
    print(
        f"engine, full postproc:   {t_full:7.2f} s  {n / t_full:6.2f} tiles/s  "
        f"ratio {t_full / t_bare:.2f}  ({objects} objects)"
    )


if __name__ == "__main__":
    main()
