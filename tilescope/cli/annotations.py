"""`tilescope annotations convert|stats`: convert annotation files and summarise them.

convert IN OUT [--to geojson|asap|imagescope|csv]: the input format is sniffed from the file's
content; without --to the output format follows OUT's extension (.geojson/.json GeoJSON,
.xml ASAP, .csv measurements CSV).
stats IN [--json] [--mpp UM]: count and area by class, in um^2 when the pixel size is known
(--mpp, or the file carries it as ImageScope XML does).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from tilescope.cli.errors import CliError

OUTPUT_FORMATS = ("geojson", "asap", "imagescope", "csv")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "annotations", help="convert annotation files (QuPath, ASAP, ImageScope) and count them"
    )
    commands = parser.add_subparsers(dest="annotations_command", metavar="ACTION")
    commands.required = True

    convert = commands.add_parser("convert", help="convert an annotation file to another format")
    convert.add_argument("input", help="QuPath GeoJSON, ASAP XML or ImageScope XML file")
    convert.add_argument("output", help="file to write (format from its extension unless --to)")
    convert.add_argument("--to", choices=OUTPUT_FORMATS, help="output format")
    convert.add_argument("--mpp", type=float, help="pixel size in um (CSV areas, ImageScope)")
    convert.set_defaults(func=run_convert)

    stats = commands.add_parser("stats", help="count and area of the objects by class")
    stats.add_argument("input", help="annotation file")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument("--mpp", type=float, help="pixel size in um (areas in um^2)")
    stats.set_defaults(func=run_stats)


def _check_mpp(mpp: float | None) -> None:
    if mpp is not None and not (math.isfinite(mpp) and mpp > 0):
        raise CliError(f"--mpp must be a positive number of microns per pixel, got {mpp}")


def _read(path: str) -> Any:
    from tilescope.engine.annotations.errors import AnnotationFormatError
    from tilescope.engine.annotations.formats import read_annotations

    try:
        return read_annotations(path)
    except AnnotationFormatError as error:
        raise CliError(str(error)) from None


def run_convert(args: argparse.Namespace) -> int:
    from tilescope.engine.annotations.errors import AnnotationFormatError
    from tilescope.engine.annotations.formats import format_for_path, write_annotations

    _check_mpp(args.mpp)
    found = _read(args.input)
    try:
        target = args.to or format_for_path(args.output)
        notes = write_annotations(
            found.annotations,
            args.output,
            target,
            class_colours=found.class_colours,
            mpp=args.mpp or found.mpp,
        )
    except AnnotationFormatError as error:
        raise CliError(str(error)) from None
    for note in [*found.notes, *notes]:
        print(f"tilescope: note: {note}", file=sys.stderr)
    print(f"{args.output}: {len(found.annotations)} objects written as {target}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from tilescope.engine.annotations.measurements import measure_many

    _check_mpp(args.mpp)
    found = _read(args.input)
    mpp = args.mpp or found.mpp
    measured = measure_many([a.geometry for a in found.annotations], mpp)
    by_class: dict[str, dict[str, float]] = {}
    for i, a in enumerate(found.annotations):
        entry = by_class.setdefault(a.class_name or "Unclassified", {"count": 0, "area_px": 0.0})
        entry["count"] += 1
        entry["area_px"] += float(measured.area_px[i])
        if measured.area_um2 is not None:
            entry["area_um2"] = entry.get("area_um2", 0.0) + float(measured.area_um2[i])
    summary = {
        "path": args.input,
        "format": found.format,
        "objects": len(found.annotations),
        "mpp": mpp,
        "classes": {name: by_class[name] for name in sorted(by_class)},
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{args.input} ({found.format}): {len(found.annotations)} objects")
    unit = "um^2" if mpp else "px^2"
    print(f"  {'class':<24} {'count':>8} {'area (' + unit + ')':>18}")
    for name, entry in summary["classes"].items():  # type: ignore[attr-defined]
        area = entry.get("area_um2", entry["area_px"]) if mpp else entry["area_px"]
        print(f"  {name:<24} {int(entry['count']):>8} {area:>18.1f}")
    return 0
