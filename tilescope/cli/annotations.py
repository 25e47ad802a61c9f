"""`tilescope annotations convert|stats`: convert annotation files and summarise them.

convert IN OUT [--to FORMAT]: IN is an annotation file (QuPath GeoJSON, ASAP XML, ImageScope
XML or DSA JSON, sniffed from its content) or a slide, whose stored annotations are exported
(`--run ID` for one model run). Without --to the format follows OUT's extension (.geojson/.json
GeoJSON, .xml ASAP, .csv measurements, .tif/.tiff/.zarr label mask). `--to coco` and
`--to labels` take the image size from `--slide` (or IN when it is a slide), else from the
objects' bounds; `--to tables` writes the CSV/HTML cell grids of a table run into folder OUT.
With a slide known, objects outside it are clipped (`--outside refuse|keep` otherwise).
stats IN [--json] [--mpp UM]: count and area by class, in um^2 when the pixel size is known
(--mpp, or the file carries it as ImageScope XML does).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from tilescope.cli.errors import CliError
from tilescope.engine.annotations.errors import AnnotationStoreError
from tilescope.engine.errors import TilescopeError, one_line

OUTPUT_FORMATS = ("geojson", "asap", "imagescope", "csv", "dsa", "coco", "labels", "tables")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "annotations",
        help="convert annotation files (QuPath, ASAP, ImageScope, DSA, COCO, masks) and count them",
    )
    commands = parser.add_subparsers(dest="annotations_command", metavar="ACTION")
    commands.required = True

    convert = commands.add_parser(
        "convert", help="convert an annotation file, or export a slide's annotations"
    )
    convert.add_argument(
        "input", help="QuPath GeoJSON, ASAP XML, ImageScope XML or DSA JSON file, or a slide"
    )
    convert.add_argument("output", help="file to write (format from its extension unless --to)")
    convert.add_argument("--to", choices=OUTPUT_FORMATS, help="output format")
    convert.add_argument("--mpp", type=float, help="pixel size in um (CSV areas, masks)")
    convert.add_argument(
        "--slide", help="the slide the objects belong to (image size, pixel size, clipping)"
    )
    convert.add_argument("--run", help="with a slide as input: export only this model run")
    convert.add_argument(
        "--scene",
        type=int,
        default=0,
        metavar="N",
        help="with a slide as input: the scene (page) whose annotations are exported (default 0)",
    )
    convert.add_argument(
        "--labels",
        choices=("instance", "class"),
        default="instance",
        help="label mask values: one per object (default) or one per class",
    )
    convert.add_argument(
        "--downsample", type=float, default=1.0, help="label mask: level-0 pixels per mask pixel"
    )
    convert.add_argument(
        "--outside",
        choices=("clip", "refuse", "keep"),
        default="clip",
        help="objects outside the slide (when its size is known): clip (default), refuse, keep",
    )
    convert.set_defaults(func=run_convert)

    stats = commands.add_parser("stats", help="count and area of the objects by class")
    stats.add_argument("input", help="annotation file")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument("--mpp", type=float, help="pixel size in um (areas in um^2)")
    stats.set_defaults(func=run_stats)


def _check_mpp(mpp: float | None) -> None:
    if mpp is not None and not (math.isfinite(mpp) and mpp > 0):
        raise CliError(f"--mpp must be a positive number of microns per pixel, got {mpp}")


def _read(path: str, **kwargs: Any) -> Any:
    from tilescope.engine.annotations.formats import read_annotations

    return read_annotations(path, **kwargs)


def _slide_info(path: str, mpp: float | None, scene: int = 0) -> Any:
    from tilescope.engine.annotation_export import slide_frame

    return slide_frame(path, mpp, scene)


def _is_annotation_file(path: str) -> bool:
    from tilescope.engine.annotation_export import is_annotation_file

    return is_annotation_file(path)


def run_convert(args: argparse.Namespace) -> int:
    _check_mpp(args.mpp)
    if not (math.isfinite(args.downsample) and args.downsample >= 1):
        raise CliError(f"--downsample must be a number of 1 or more, got {args.downsample}")
    if not Path(args.input).exists():
        raise CliError(f"{args.input}: no such file")
    if args.slide is not None and not Path(args.slide).is_file():
        raise CliError(f"--slide {args.slide}: no such file")
    if _is_annotation_file(args.input):
        if args.run:
            raise CliError("--run selects a model run of a slide's store; IN is a file")
        return _convert_file(args)
    return _export_slide(args)


def _target(args: argparse.Namespace) -> str:
    from tilescope.engine.annotations.formats.export import format_for_output

    if args.to:
        return str(args.to)
    return format_for_output(args.output)


def _options(args: argparse.Namespace, slide: Any, colours: Any, mpp: float | None) -> Any:
    from tilescope.engine.annotations.formats import ExportOptions

    return ExportOptions(
        class_colours=colours,
        mpp=mpp,
        size=slide.size if slide is not None else None,
        labels=args.labels,
        downsample=args.downsample,
        image_file_name=slide.path.name if slide is not None else "",
    )


def _convert_file(args: argparse.Namespace) -> int:
    from tilescope.engine.annotations.formats.export import export_annotations

    slide = _slide_info(args.slide, args.mpp, args.scene) if args.slide else None
    bounds = slide.size if slide is not None else None
    found = _read(args.input, bounds=bounds, outside=args.outside)
    target = _target(args)
    if target == "tables":
        return _write_tables(found.annotations, args)
    mpp = args.mpp or (slide.mpp if slide is not None else None) or found.mpp
    notes = export_annotations(
        found.annotations, args.output, target, _options(args, slide, found.class_colours, mpp)
    )
    _print_notes([*found.notes, *notes])
    print(f"{args.output}: {len(found.annotations)} objects written as {target}")
    return 0


def _export_slide(args: argparse.Namespace) -> int:
    from tilescope.engine.annotations.formats import export_store
    from tilescope.engine.annotations.store import AnnotationStore, existing_store_path

    try:
        slide = _slide_info(args.input, args.mpp, args.scene)
    except AnnotationStoreError:
        raise  # a slide whose store is damaged, locked, ...: that is the problem to name
    except (TilescopeError, OSError) as error:  # not a slide either: say both
        raise CliError(
            f"{args.input}: not an annotation file (QuPath GeoJSON, ASAP/ImageScope XML, DSA "
            f"JSON), and not a slide ({one_line(error)})"
        ) from None
    store_path = existing_store_path(args.input, scene=args.scene)
    if store_path is None:
        where = f" (scene {args.scene})" if args.scene else ""
        raise CliError(f"{args.input}: no annotations are stored for this slide{where}")
    target = _target(args)
    with AnnotationStore(store_path) as store:
        filters: dict[str, Any] = {}
        if args.run:
            runs = [r.run_id for r in store.runs()]
            if args.run not in runs:
                known = ", ".join(runs) or "none"
                raise CliError(f"--run {args.run}: no such run for {args.input} (runs: {known})")
            filters = {"run_id": args.run, "include_hidden_runs": True}
        if target == "tables":
            objects = list(store.query(**filters) if filters else store.iter_all())
            return _write_tables(objects, args)
        count = store.count(**filters) if filters else store.count(include_hidden_runs=True)
        options = _options(args, slide, None, slide.mpp)
        notes = export_store(store, args.output, target, options=options, **filters)
    _print_notes(notes)
    print(f"{args.output}: {count} objects written as {target}")
    return 0


def _write_tables(objects: list[Any], args: argparse.Namespace) -> int:
    from tilescope.plugins.table_detection.export import write_table_files

    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{folder}: --to tables writes a folder of CSV/HTML files; this is a file")
    try:
        written = write_table_files(objects, folder, Path(args.input).stem)
    except ValueError as error:
        raise CliError(f"{args.input}: {error}") from None
    if not written:
        raise CliError(f"{args.input}: no table cells found (run a table model with structure)")
    print(f"{folder}: {len(written) // 2} table(s) written as CSV and HTML")
    return 0


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"tilescope: note: {note}", file=sys.stderr)


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
        print(json.dumps(summary, allow_nan=False))
        return 0
    _print_notes(found.notes)
    print(f"{args.input} ({found.format}): {len(found.annotations)} objects")
    unit = "um^2" if mpp else "px^2"
    print(f"  {'class':<24} {'count':>8} {'area (' + unit + ')':>18}")
    for name, entry in summary["classes"].items():
        area = entry.get("area_um2", entry["area_px"]) if mpp else entry["area_px"]
        print(f"  {name:<24} {int(entry['count']):>8} {area:>18.1f}")
    return 0
