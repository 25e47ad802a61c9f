"""`tilescope nuclick SLIDE --points X,Y ... | --points-csv FILE | --squiggle X1,Y1,... -o OUT`.

Outlines the objects under clicks (or a squiggle) with a NuClick model and writes them as
QuPath GeoJSON. Coordinates are level-0 pixels (write a negative one as --points=-5,10). A
click that finds nothing is reported on stderr; the exit status is 0 when at least one
outline was written, 2 (and no file) when none was.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from tilescope.cli import arguments
from tilescope.cli.errors import CliError
from tilescope.engine.errors import file_problem

#: More clicks than anyone makes by hand; a CSV beyond it is refused before any work.
MAX_PROMPTS = 100_000


def _point(text: str) -> tuple[float, float]:
    try:
        x, y = text.split(",")
        return (arguments.coordinate(x), arguments.coordinate(y))
    except (ValueError, argparse.ArgumentTypeError) as error:
        why = f" ({error})" if isinstance(error, argparse.ArgumentTypeError) else ""
        raise argparse.ArgumentTypeError(
            f"a point must be X,Y in level-0 pixels, got {text!r}{why}"
        ) from None


def _polyline(text: str) -> list[tuple[float, float]]:
    try:
        return arguments.points(text)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(
            f"--squiggle must be X1,Y1,X2,Y2,... in level-0 pixels ({error})"
        ) from None


def read_points_csv(path: Path) -> list[tuple[float, float]]:
    """x,y per line (an optional header line is skipped); errors name the file and line."""
    try:
        if not path.is_file():
            raise CliError(f"{path}: not a regular file of x,y points")
        if path.stat().st_size > 64 * MAX_PROMPTS:
            raise CliError(f"{path}: too large for a points file (at most {MAX_PROMPTS} points)")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise file_problem(path, error, "cannot read the points file") from error
    except UnicodeDecodeError as error:
        raise CliError(f"{path}: not a text file of x,y points ({error.reason})") from error
    points = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        try:
            x, y = arguments.coordinate(row[0]), arguments.coordinate(row[1])
        except (argparse.ArgumentTypeError, IndexError):
            if number == 1:
                continue  # header
            raise CliError(f"{path}: line {number} is not x,y: {','.join(row)!r}") from None
        points.append((x, y))
    if not points:
        raise CliError(f"{path}: no x,y points in the file")
    if len(points) > MAX_PROMPTS:
        raise CliError(f"{path}: {len(points)} points, more than {MAX_PROMPTS}")
    return points


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "nuclick", help="outline the nuclei under clicks (or an object under a squiggle)"
    )
    parser.add_argument("slide")
    prompts = parser.add_mutually_exclusive_group(required=True)
    prompts.add_argument(
        "--points", nargs="+", type=_point, metavar="X,Y", help="clicks, level-0 pixels"
    )
    prompts.add_argument("--points-csv", type=Path, metavar="FILE", help="x,y per line")
    prompts.add_argument(
        "--squiggle", type=_polyline, metavar="X1,Y1,X2,Y2,...", help="a polyline inside the object"
    )
    parser.add_argument("-o", "--output", required=True, help="output GeoJSON file")
    parser.add_argument("--model", default="nuclick", help="model id or folder (type nuclick)")
    parser.add_argument("--class", dest="class_name", help="class name given to the outlines")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--scene", type=arguments.index, default=0)
    arguments.add_mpp(
        parser,
        "the slide's pixel size in um (overrides the file's): patches are read at the "
        "model's scale from it",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tilescope.engine.inference.sessions import SessionError
    from tilescope.engine.outputs import check_output_path
    from tilescope.engine.pixel_size import apply_pixel_size, check_mpp
    from tilescope.engine.slide import open_slide
    from tilescope.plugins.manifest import ManifestError
    from tilescope.plugins.nuclick.api import clicks, load_nuclick, squiggle
    from tilescope.plugins.registry import UnknownModelTypeError

    output = check_output_path(args.output, None)
    if args.mpp is not None:
        check_mpp(args.mpp)
    if args.squiggle is not None:
        prompts = [squiggle(args.squiggle)]
    else:
        points = args.points if args.points is not None else read_points_csv(args.points_csv)
        prompts = clicks(points)
    try:
        model = load_nuclick(args.model, device=args.device)
    except (ManifestError, UnknownModelTypeError) as error:
        raise CliError(str(error)) from error
    with open_slide(args.slide, scene=args.scene) as slide:
        apply_pixel_size(slide, args.mpp)
        try:
            outcomes = model.segment(slide, prompts)
        except SessionError as error:
            raise CliError(str(error)) from error
    found = [o.annotation for o in outcomes if o.annotation is not None]
    if args.class_name:
        found = [a.evolve(class_name=args.class_name) for a in found]
    for outcome in outcomes:
        if outcome.annotation is None:
            where = " ".join(f"{x:g},{y:g}" for x, y in outcome.prompt.points[:3])
            print(f"tilescope nuclick: {where}: {outcome.message}", file=sys.stderr)
    if not found:  # nothing to write: no empty file that looks like a result
        raise CliError(f"{args.slide}: no object found under the given prompts")
    write_geojson(found, output)
    print(f"{len(found)} of {len(outcomes)} outlined -> {args.output}")
    return 0


def write_geojson(annotations: list, path: Path) -> None:
    from tilescope.engine.annotations.formats import geojson

    try:
        geojson.write(annotations, path, {})
    except OSError as error:
        raise file_problem(path, error, "cannot write") from error
