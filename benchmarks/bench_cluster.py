"""Cluster batch inference: 4 slides on 1 Dask worker versus 2 workers (one thread each).

    python -m benchmarks.bench_cluster [--roi-size 1024] [--model nuclei-maskrcnn]

Also times a plain local run (this process, ONNX Runtime's default threads) of the same 4
slides. Prints the speed-up ratios measured side by side in this one run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from tilescope.batch.cluster import run_on_cluster
from tilescope.batch.tasks import run_slide_task
from tilescope.engine.inference.job import JobSpec
from tilescope.resources import demo_slide_path


def _tasks(slides: list[Path], out: Path, model: str, roi: tuple[float, ...]) -> list[JobSpec]:
    return [
        JobSpec(s, model, out_dir=out, region=roi, store=False)  # type: ignore[arg-type]
        for s in slides
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="nuclei-maskrcnn")
    parser.add_argument("--roi-size", type=float, default=1024.0)
    args = parser.parse_args(argv)
    roi = (600.0, 600.0, args.roi_size, args.roi_size)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        slides = []
        for i in range(4):
            slides.append(root / f"slide{i}.svs")
            shutil.copyfile(demo_slide_path(), slides[-1])
        timings = {}
        started = time.perf_counter()
        for task in _tasks(slides, root / "plain", args.model, roi):
            assert run_slide_task(task).ok
        timings["plain local run"] = time.perf_counter() - started
        for workers in (1, 2):
            started = time.perf_counter()
            outcomes = run_on_cluster(
                _tasks(slides, root / f"w{workers}", args.model, roi), f"local:{workers}"
            )
            assert all(o.ok for o in outcomes), [o.error for o in outcomes]
            timings[f"{workers} worker(s)"] = time.perf_counter() - started
    for name, seconds in timings.items():
        print(f"{name:18} {seconds:7.2f} s")
    one, two, plain = timings["1 worker(s)"], timings["2 worker(s)"], timings["plain local run"]
    print(f"speed-up 2 workers vs 1 worker:  {one / two:.2f}x")
    print(f"speed-up 2 workers vs plain run: {plain / two:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
