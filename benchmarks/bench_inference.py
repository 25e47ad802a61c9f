"""Whole-slide inference through tilescope's engine versus bare ``InferenceSession.run``.

One process, one ONNX Runtime session, the same model and batch size:

- bare: the tiles the engine would run (same plan, background already removed) are read and
  pre-processed first, then only ``session.run`` is timed over them;
- engine (maps only): ``run_on_slide`` end to end (tissue detection, reads, pre-processing,
  model, post-processing reduced to the probability map, stitching) -- the overhead ratio is
  this time over bare;
- engine (full): the same with the model type's own post-processing (for the U-Net: seeded
  watershed and polygons), reported separately.

Also tiles/s and the share of the plan skipped as background.

    .venv/bin/python -m benchmarks.bench_inference [--model nuclei-unet-he] [--slide PATH]
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
from tilescope.plugins.catalog import load_model

REPO_ROOT = Path(__file__).resolve().parents[1]
CMU_SMALL = REPO_ROOT.parent / "shared" / "data" / "slides" / "CMU-1-Small-Region.svs"


def maps_only(model):  # type: ignore[no-untyped-def]
    """The same model with post-processing cut down to handing back the probability map."""

    class MapsOnly(type(model)):  # type: ignore[misc]
        def postprocess(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[TileResult]:
            probs = self.probabilities(outputs[0]) if hasattr(self, "probabilities") else outputs[0]
            return [TileResult(probabilities=p) for p in probs]

    return MapsOnly(model.model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nuclei-unet-he")
    parser.add_argument("--slide", default=str(CMU_SMALL))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    model = load_model(args.model, device=args.device, threads=args.threads)
    session = model.session
    batch_size = model.tile_spec().batch_size
    with open_slide(args.slide) as slide:
        notes: list[str] = []
        tiles, background, _ = _plan(slide, model, RunOptions(), notes)
        planned = len(tiles) + len(background)
        batches = [tiles[i : i + batch_size] for i in range(0, len(tiles), batch_size)]
        fed = [model.preprocess([read_tile(slide, t) for t in batch]) for batch in batches]
        session.run(None, fed[0])  # warm-up, for everyone

        def bare() -> float:
            start = time.perf_counter()
            for inputs in fed:
                session.run(None, inputs)
            return time.perf_counter() - start

        def engine(m) -> tuple[float, int]:  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            summary = run_on_slide(slide, m, RunOptions())
            return time.perf_counter() - start, len(summary.annotations)

        light = maps_only(model)
        t_bare = min(bare() for _ in range(args.repeat))
        t_maps = min(engine(light)[0] for _ in range(args.repeat))
        runs = [engine(model) for _ in range(args.repeat)]
        t_full, objects = min(runs)

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
        f"engine, maps only:       {t_maps:7.2f} s  {n / t_maps:6.2f} tiles/s  "
        f"overhead ratio {t_maps / t_bare:.2f}"
    )
    print(
        f"engine, with watershed:  {t_full:7.2f} s  {n / t_full:6.2f} tiles/s  "
        f"ratio {t_full / t_bare:.2f}  ({objects} objects)"
    )


if __name__ == "__main__":
    main()
