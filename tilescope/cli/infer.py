"""`tilescope infer SLIDE... --model ID --out DIR`: run a model over slides, resumably.

Per slide: DIR/<stem>.geojson (QuPath), DIR/<stem>.zarr (probability maps), detections in
the slide's annotation store; DIR/<stem>.resume.jsonl while unfinished. A bad slide is
reported in one line and the others still run (exit 2 at the end). Ctrl+C stops cleanly
after the current batch; `--resume` continues where it stopped.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from tilescope.cli.errors import EXIT_USAGE_OR_INPUT, CliError


def _roi(text: str) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--roi must be X,Y,W,H in level-0 pixels, got {text!r}"
        ) from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"--roi width and height must be positive, got {text!r}")
    return (x, y, w, h)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "infer", help="run a model over slides (results: GeoJSON, OME-Zarr maps, the store)"
    )
    parser.add_argument("slides", nargs="+", metavar="SLIDE")
    parser.add_argument("--model", required=True, help="model id (tilescope models list) or folder")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--roi", type=_roi, help="X,Y,W,H region in level-0 pixels")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--batch-size", type=int, help="tiles per model call")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads")
    parser.add_argument(
        "--no-tissue-detection", action="store_true", help="run on background tiles too"
    )
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run slides in parallel on Dask: local:N (N worker processes here) or "
        "tcp://HOST:PORT (an existing scheduler; DIR must be shared storage)",
    )
    parser.add_argument(
        "--no-store", action="store_true", help="do not write to the slide's annotation store"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a parameter of the model's type for this run (repeatable), "
        "e.g. score_threshold=0.3",
    )
    parser.add_argument(
        "--structure",
        action="store_true",
        help="table models: also find the cells of ruled tables (--param structure=true)",
    )
    parser.set_defaults(func=run)


def _apply_parameters(model: Any, pairs: list[str]) -> None:
    """Override the model's parameters with KEY=VALUE pairs, checked like the manifest's."""
    import yaml

    specs = model.parameter_specs
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CliError(f"--param must be KEY=VALUE, got {pair!r}")
        spec = specs.get(key)
        if spec is None:
            known = ", ".join(sorted(specs)) or "none"
            raise CliError(f"model {model.manifest.id} has no parameter {key!r} (has: {known})")
        try:
            value = text if spec.kind is str else yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        problem = spec.check(value)
        if problem:
            raise CliError(f"--param {key} {problem}")
        model.parameters[key] = float(value) if spec.kind is float else value


class _Bars:
    """A tqdm bar per slide, with an overall ETA from the slides finished so far."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.finished_seconds: list[float] = []
        self.bar: Any = None

    def start(self, index: int, name: str) -> Callable[[Any], None]:
        from tqdm import tqdm

        self.bar = tqdm(
            total=None,
            desc=f"[{index + 1}/{self.count}] {name}",
            unit="tile",
            file=sys.stderr,
            dynamic_ncols=True,
            leave=True,
        )
        remaining = self.count - index - 1
        started = time.perf_counter()

        def update(report: Any) -> None:
            bar = self.bar
            if bar.total != report.total:
                bar.total = report.total
            bar.n = report.done
            eta = report.eta_s
            if eta is not None and remaining:
                # later slides take as long as the finished ones did, or as this one will
                elapsed = time.perf_counter() - started
                per_slide = (
                    sum(self.finished_seconds) / len(self.finished_seconds)
                    if self.finished_seconds
                    else elapsed + eta
                )
                overall = eta + remaining * per_slide
                bar.set_postfix_str(f"overall ETA {overall:.0f}s", refresh=False)
            bar.refresh()

        return update

    def stop(self, seconds: float) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.finished_seconds.append(seconds)


def run(args: argparse.Namespace) -> int:
    from tilescope.engine.annotations.errors import AnnotationStoreError
    from tilescope.engine.inference.job import run_job
    from tilescope.engine.inference.progress import CancelToken
    from tilescope.engine.inference.results import ResumeError
    from tilescope.engine.inference.runner import RunOptions
    from tilescope.engine.inference.sessions import SessionError, fallback_notice
    from tilescope.engine.slide.errors import SlideError
    from tilescope.plugins.catalog import load_model
    from tilescope.plugins.manifest import ManifestError
    from tilescope.plugins.registry import UnknownModelTypeError

    if args.batch_size is not None and args.batch_size < 1:
        raise CliError(f"--batch-size must be at least 1, got {args.batch_size}")
    try:
        model = load_model(args.model, device=args.device, threads=args.threads)
        notice = fallback_notice(args.device)
        if notice:
            print(f"tilescope: {notice}", file=sys.stderr)
        _ = model.session  # a broken ONNX file fails here, once, not per slide
    except (ManifestError, UnknownModelTypeError, SessionError) as error:
        raise CliError(str(error)) from None
    _apply_parameters(model, args.param + (["structure=true"] if args.structure else []))
    identity = model.identity()
    options = RunOptions(
        region=args.roi,
        tissue_detection=False if args.no_tissue_detection else None,
        batch_size=args.batch_size,
    )
    if args.cluster:
        return _run_on_cluster(args, model)
    cancel = CancelToken()

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if cancel.cancelled:  # second Ctrl+C: stop now
            raise KeyboardInterrupt
        cancel.cancel()
        print(
            "\ntilescope: stopping after the current batch (Ctrl+C again to abort)", file=sys.stderr
        )

    previous = signal.signal(signal.SIGINT, on_interrupt)
    failures = 0
    bars = _Bars(len(args.slides))
    try:
        for index, slide in enumerate(args.slides):
            if cancel.cancelled:
                break
            started = time.perf_counter()
            update = bars.start(index, Path(slide).name)
            try:
                result = run_job(
                    slide,
                    model,
                    identity,
                    args.out,
                    options,
                    resume=args.resume,
                    store=not args.no_store,
                    progress=update,
                    cancel=cancel,
                )
            except (SlideError, ResumeError, SessionError, AnnotationStoreError) as error:
                bars.stop(time.perf_counter() - started)
                print(f"tilescope: error: {error}", file=sys.stderr)
                failures += 1
                continue
            except ValueError as error:  # e.g. a region outside this slide
                bars.stop(time.perf_counter() - started)
                print(f"tilescope: error: {slide}: {error}", file=sys.stderr)
                failures += 1
                continue
            bars.stop(time.perf_counter() - started)
            print(_summary_line(result), file=sys.stdout)
            for note in result.summary.notes:
                print(f"  note: {note}", file=sys.stdout)
    finally:
        signal.signal(signal.SIGINT, previous)
    if cancel.cancelled:
        print("tilescope: cancelled; run again with --resume to continue", file=sys.stderr)
        return 130
    return EXIT_USAGE_OR_INPUT if failures else 0


def _summary_line(result: Any) -> str:
    s = result.summary
    counts = ", ".join(f"{name} {n}" for name, n in sorted(s.counts_by_class().items()))
    resumed = f", {s.tiles_resumed} resumed" if s.tiles_resumed else ""
    return (
        f"{result.slide.name}: {len(s.annotations)} objects ({counts or 'none'}) in "
        f"{s.seconds:.1f} s, {s.tiles_run} tiles at {s.tiles_per_second:.2f} tiles/s{resumed}, "
        f"{100 * s.skipped_fraction:.0f}% background skipped -> {result.geojson}"
    )


def _run_on_cluster(args: argparse.Namespace, model: Any) -> int:
    """The same per-slide jobs as a local run, spread over Dask workers."""
    from tqdm import tqdm

    from tilescope.batch.cluster import ClusterError, run_on_cluster
    from tilescope.batch.tasks import SlideOutcome, SlideTask

    tasks = [
        SlideTask(
            slide=str(slide),
            model=str(model.manifest.folder),
            out_dir=str(args.out),
            region=args.roi,
            tissue_detection=False if args.no_tissue_detection else None,
            batch_size=args.batch_size,
            parameters=dict(model.parameters),
            device=args.device,
            resume=args.resume,
            store=not args.no_store,
        )
        for slide in args.slides
    ]
    slides_bar = tqdm(total=len(tasks), desc="slides", unit="slide", file=sys.stderr)
    tiles: dict[str, tuple[int, int]] = {}
    tiles_bar = tqdm(total=0, desc="tiles", unit="tile", file=sys.stderr)
    interrupted = False

    def on_progress(slide: str, done: int, total: int) -> None:
        tiles[slide] = (done, total)
        tiles_bar.total = sum(t for _, t in tiles.values())
        tiles_bar.n = sum(d for d, _ in tiles.values())
        tiles_bar.refresh()

    def on_outcome(outcome: SlideOutcome) -> None:
        slides_bar.update(1)
        if outcome.ok:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts_by_class.items()))
            tqdm.write(
                f"{Path(outcome.slide).name}: {outcome.objects} objects ({counts or 'none'}) in "
                f"{outcome.seconds:.1f} s on {outcome.worker} -> {outcome.geojson}",
                file=sys.stdout,
            )
        else:
            tqdm.write(f"tilescope: error: {outcome.error}", file=sys.stderr)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        tqdm.write("tilescope: stopping the workers after their current batch", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        outcomes = run_on_cluster(
            tasks, args.cluster, on_progress, on_outcome, should_stop=lambda: interrupted
        )
    except ClusterError as error:
        raise CliError(str(error)) from None
    finally:
        signal.signal(signal.SIGINT, previous)
        tiles_bar.close()
        slides_bar.close()
    if interrupted:
        print("tilescope: cancelled; run again with --resume to continue", file=sys.stderr)
        return 130
    return EXIT_USAGE_OR_INPUT if any(not o.ok for o in outcomes) else 0
