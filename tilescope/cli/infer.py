"""`tilescope infer SLIDE... --model ID --out DIR`: run a model over slides, resumably.

Each slide (each scene of a multi-scene file: DIR/<stem>.scene<N>.*) is one `JobSpec` run by
the engine's one job: DIR/<stem>.geojson (QuPath, exported from the store's run),
DIR/<stem>.zarr (probability maps, only for models that make them), detections in the
slide's annotation store (replacing the model's earlier run unless --keep-previous);
DIR/<stem>.resume.jsonl while unfinished, DIR/<stem>.done.json once finished. A bad slide is
reported in one line and the others still run (exit 2 at the end). Ctrl+C stops cleanly
after the current batch; `--resume` continues where it stopped and skips finished slides.
The run ends with one summary line.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from tilescope.cli.errors import EXIT_USAGE_OR_INPUT, CliError
from tilescope.engine.inference.progress import ProgressListener


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
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run; slides already finished in DIR are skipped",
    )
    parser.add_argument(
        "--keep-previous",
        action="store_true",
        help="keep earlier runs of this model in the slide's store (default: replace them)",
    )
    parser.add_argument(
        "--scene",
        type=int,
        metavar="N",
        help="run only scene/page N (from 0); default: every scene of a multi-scene file",
    )
    parser.add_argument(
        "--mpp",
        type=float,
        metavar="UM",
        help="pixel size in µm/px, for slides whose file has none or a wrong one "
        "(default: the size set for the slide, then the file's)",
    )
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


def _parameters(model: Any, pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs as the model's typed parameter overrides, checked by the model type."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CliError(f"--param must be KEY=VALUE, got {pair!r}")
        overrides[key] = model.parse_parameter(key, text)
    model.set_parameters(overrides)  # InputError naming the parameter, before any slide runs
    return overrides


class _Bars:
    """A tqdm bar per slide, with an overall ETA from the slides finished so far."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.finished_seconds: list[float] = []
        self.bar: Any = None

    def start(self, index: int, name: str) -> ProgressListener:
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
    from tilescope.engine.inference.job import JobSpec
    from tilescope.engine.inference.sessions import fallback_notice
    from tilescope.engine.pixel_size import check_mpp
    from tilescope.plugins.jobs import load_job_model

    if args.batch_size is not None and args.batch_size < 1:
        raise CliError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.scene is not None and args.scene < 0:
        raise CliError(f"--scene must be 0 or more, got {args.scene}")
    mpp = check_mpp(args.mpp) if args.mpp is not None else None
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise CliError(f"--out {args.out}: is a file, not a folder")
    spec = JobSpec(
        slide=Path(args.slides[0]),
        model=str(args.model),
        out_dir=Path(args.out),
        scene=args.scene,
        region=args.roi,
        mpp=mpp,
        store=not args.no_store,
        resume=args.resume,
        keep_previous=args.keep_previous,
        tissue_detection=False if args.no_tissue_detection else None,
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
    )
    model = load_job_model(spec)  # ManifestError etc.: one line, exit 2
    notice = fallback_notice(args.device)
    if notice:
        print(f"tilescope: {notice}", file=sys.stderr)
    _ = model.session  # a broken ONNX file fails here, once, not per slide
    overrides = _parameters(model, args.param + (["structure=true"] if args.structure else []))
    spec = replace(spec, model=str(model.manifest.folder), parameters=overrides)
    specs = [replace(spec, slide=Path(slide)) for slide in args.slides]
    started = time.perf_counter()
    if args.cluster:
        outcomes, interrupted = _run_on_cluster(specs, args.cluster)
    else:
        outcomes, interrupted = _run_here(specs, model)
    print(summary_line(outcomes, len(specs), time.perf_counter() - started))
    if interrupted:
        print("tilescope: cancelled; run again with --resume to continue", file=sys.stderr)
        return 130
    return EXIT_USAGE_OR_INPUT if any(o.status == "failed" for o in outcomes) else 0


def _run_here(specs: list[Any], model: Any) -> tuple[list[Any], bool]:
    """Slides one after another in this process; Ctrl+C stops after the current batch."""
    from tilescope.batch.tasks import run_slide_task
    from tilescope.engine.inference.progress import CancelToken

    cancel = CancelToken()

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if cancel.cancelled:  # second Ctrl+C: stop now
            raise KeyboardInterrupt
        cancel.cancel()
        print(
            "\ntilescope: stopping after the current batch (Ctrl+C again to abort)", file=sys.stderr
        )

    previous = signal.signal(signal.SIGINT, on_interrupt)
    outcomes = []
    bars = _Bars(len(specs))
    try:
        for index, spec in enumerate(specs):
            if cancel.cancelled:
                break
            started = time.perf_counter()
            update = bars.start(index, spec.slide.name)
            outcome = run_slide_task(spec, update, cancel, model=model)
            bars.stop(time.perf_counter() - started)
            outcomes.append(outcome)
            _print_outcome(outcome)
    finally:
        signal.signal(signal.SIGINT, previous)
    return outcomes, cancel.cancelled


def _print_outcome(outcome: Any) -> None:
    """One line per slide: stdout for results, stderr for a failure."""
    if outcome.status == "failed":
        print(f"tilescope: error: {outcome.error}", file=sys.stderr)
        return
    name = Path(outcome.slide).name
    counts = ", ".join(f"{k} {n}" for k, n in sorted(outcome.counts_by_class.items()))
    where = " -> " + ", ".join(outcome.geojson) if outcome.geojson else ""
    if outcome.status == "finished earlier":
        print(f"{name}: finished earlier, {outcome.objects} objects, outputs kept{where}")
        return
    rate = outcome.tiles_run / outcome.seconds if outcome.seconds > 0 else 0.0
    extra = f", {outcome.status}" if outcome.status in ("resumed", "cancelled") else ""
    replaced = f", replaced {outcome.replaced_runs} earlier run(s)" if outcome.replaced_runs else ""
    on = f" on {outcome.worker}" if outcome.worker and outcome.worker != _here() else ""
    skipped = 100 * outcome.tiles_skipped / outcome.tiles_total if outcome.tiles_total else 0.0
    print(
        f"{name}: {outcome.objects} objects ({counts or 'none'}) in {outcome.seconds:.1f} s, "
        f"{outcome.tiles_run} tiles at {rate:.2f} tiles/s{extra}, {skipped:.0f}% background "
        f"skipped{replaced}{on}{where}"
    )
    for note in outcome.notes:
        print(f"  note: {note}")


def _here() -> str:
    import os

    return f"{os.uname().nodename}:{os.getpid()}"


def summary_line(outcomes: list[Any], slides: int, seconds: float) -> str:
    """The batch in one line: slides done / resumed / failed, objects, time."""
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    not_run = slides - len(outcomes)
    parts = [f"{by_status.get('done', 0)} done"]
    resumed = by_status.get("resumed", 0) + by_status.get("finished earlier", 0)
    parts.append(f"{resumed} resumed")
    if by_status.get("finished earlier"):
        parts[-1] += f" ({by_status['finished earlier']} finished earlier)"
    parts.append(f"{by_status.get('failed', 0)} failed")
    if by_status.get("cancelled") or not_run:
        parts.append(f"{by_status.get('cancelled', 0) + not_run} cancelled")
    objects = sum(o.objects for o in outcomes if o.status != "failed")
    return (
        f"tilescope infer: {slides} slide{'s' if slides != 1 else ''}: {', '.join(parts)}; "
        f"{objects:,} objects in {_duration(seconds)}"
    )


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s"


def _run_on_cluster(specs: list[Any], address: str) -> tuple[list[Any], bool]:
    """The same per-slide tasks as a local run, spread over Dask workers."""
    from tqdm import tqdm

    from tilescope.batch.cluster import run_on_cluster

    slides_bar = tqdm(total=len(specs), desc="slides", unit="slide", file=sys.stderr)
    tiles: dict[str, tuple[int, int]] = {}
    tiles_bar = tqdm(total=0, desc="tiles", unit="tile", file=sys.stderr)
    interrupted = False

    def on_progress(slide: str, done: int, total: int) -> None:
        tiles[slide] = (done, total)
        tiles_bar.total = sum(t for _, t in tiles.values())
        tiles_bar.n = sum(d for d, _ in tiles.values())
        tiles_bar.refresh()

    def on_outcome(outcome: Any) -> None:
        slides_bar.update(1)
        with tqdm.external_write_mode(file=sys.stderr):
            _print_outcome(outcome)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        tqdm.write("tilescope: stopping the workers after their current batch", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        outcomes = run_on_cluster(
            specs, address, on_progress, on_outcome, should_stop=lambda: interrupted
        )
    finally:
        signal.signal(signal.SIGINT, previous)
        tiles_bar.close()
        slides_bar.close()
    return outcomes, interrupted
