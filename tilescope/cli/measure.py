"""`tilescope measure SLIDE --annotations IN -o OUT.csv|OUT.geojson`: measure objects.

Shape (area, perimeter, circularity, solidity, eccentricity, axes; um when the pixel size is
known) and stain intensities (haematoxylin, eosin, DAB: mean/std/max OD inside each object and
in a ring around it, `cytoplasm_*`). With a slide path as IN the measurements are kept in the
slide's store too. Ctrl+C stops after the current tile.
"""

from __future__ import annotations

import argparse
import sys
import time

from tilescope.cli.analysis_common import (
    add_common_arguments,
    check_output,
    export,
    objects_store,
    open_with_pixel_size,
    progress_and_cancel,
)
from tilescope.cli.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "measure", help="shape and stain measurements of objects (CSV or GeoJSON)"
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--ring-um", type=float, default=2.0, help="width of the ring around each object (um)"
    )
    parser.add_argument(
        "--stains",
        default="H-E-DAB",
        help="H-E-DAB (default), H&E, H-DAB, 'none' (shape only) or a JSON file of vectors",
    )
    parser.set_defaults(func=run)


def stains_from_argument(text: str):  # type: ignore[no-untyped-def]
    from pathlib import Path

    from tilescope.engine.analysis.stain import PRESETS, StainVectors

    if text.lower() == "none":
        return None
    if text in PRESETS:
        return PRESETS[text]
    path = Path(text)
    if path.is_file():
        return StainVectors.from_json(path.read_text(encoding="utf-8"))
    raise CliError(
        f"--stains must be one of {', '.join(PRESETS)}, none, or a JSON file; got {text!r}"
    )


def run(args: argparse.Namespace) -> int:
    from tilescope.engine.analysis.measure import MeasureOptions, measure_store

    check_output(args.out)
    if not args.ring_um >= 0:
        raise CliError(f"--ring-um must be zero or more, got {args.ring_um}")
    options = MeasureOptions(stains=stains_from_argument(args.stains), ring_um=args.ring_um)
    slide, mpp, described = open_with_pixel_size(args.slide, args.mpp, args.scene)
    started = time.perf_counter()
    with slide, objects_store(args.annotations, args.slide, args.scene) as store:
        count = (
            len(store.object_table(run_id=args.run))
            if args.run
            else store.count(include_hidden_runs=True)
        )
        if count == 0:
            raise CliError(f"{args.annotations}: no objects to measure")
        with progress_and_cancel("measure") as (update, cancel):
            names = measure_store(
                store, slide, mpp, run_id=args.run, progress=update, cancel=cancel, options=options
            )
        export(store, args.out, args.run, mpp)
    print(
        f"{args.out}: {count} objects, {len(names)} measurements ({described}) "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return 0
