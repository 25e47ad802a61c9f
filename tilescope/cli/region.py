"""`tilescope region PATH --x --y --width --height [--downsample|--level] -o OUT.png`.

PNG/JPEG get what the viewer shows (fluorescence and 16-bit images rendered with their channel
colours and ranges); .tif the raw values; .ome.tif the raw channels with names and pixel size.
"""

from __future__ import annotations

import argparse

from tilescope.cli import arguments
from tilescope.cli.errors import CliError
from tilescope.engine.outputs import check_output_path
from tilescope.engine.pixel_size import apply_pixel_size
from tilescope.engine.region_export import OUTPUT_EXTENSIONS, write_region
from tilescope.engine.slide import RegionRequest, open_slide


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "region", help="write a region of a slide to an image (coordinates in level-0 pixels)"
    )
    parser.add_argument("path")
    parser.add_argument("--x", type=arguments.coordinate, required=True)
    parser.add_argument("--y", type=arguments.coordinate, required=True)
    parser.add_argument("--width", type=arguments.length, required=True)
    parser.add_argument("--height", type=arguments.length, required=True)
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument(
        "--downsample", type=arguments.downsample, help="level-0 pixels per output pixel"
    )
    scale.add_argument("--level", type=arguments.index, help="read at this pyramid level")
    parser.add_argument("--scene", type=arguments.index, default=0)
    arguments.add_mpp(
        parser, "level-0 pixel size in um, recorded in the output (overrides the slide's)"
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="output image: .png/.jpg as displayed, .tif raw, .ome.tif raw with channel names",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    output = check_output_path(args.output, OUTPUT_EXTENSIONS)
    with open_slide(args.path, scene=args.scene) as slide:
        size = apply_pixel_size(slide, args.mpp)
        levels = slide.metadata.levels
        if args.level is not None:
            if not 0 <= args.level < len(levels):
                raise CliError(
                    f"{args.path}: level {args.level} does not exist (0..{len(levels) - 1})"
                )
            downsample = levels[args.level].downsample
        else:
            downsample = args.downsample or 1.0
        try:
            request = RegionRequest(args.x, args.y, args.width, args.height, downsample)
        except ValueError as error:
            raise CliError(f"{args.path}: {error}") from error
        write_region(slide, request, output, size.mpp)
    return 0
