"""`tilescope region PATH --x --y --width --height [--downsample|--level] -o OUT.png`."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tilescope.cli.errors import CliError
from tilescope.engine.slide import RegionRequest, open_slide
from tilescope.engine.slide.image_io import write_image


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "region", help="write a region of a slide to an image (coordinates in level-0 pixels)"
    )
    parser.add_argument("path")
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--y", type=float, required=True)
    parser.add_argument("--width", type=float, required=True)
    parser.add_argument("--height", type=float, required=True)
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--downsample", type=float, help="level-0 pixels per output pixel")
    scale.add_argument("--level", type=int, help="read at this pyramid level's downsample")
    parser.add_argument("--scene", type=int, default=0)
    parser.add_argument("-o", "--output", required=True, help="output image (.png, .tif, .jpg)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_slide(args.path, scene=args.scene) as slide:
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
        pixels = slide.read_region(request)
    write_image(Path(args.output), np.asarray(pixels))
    return 0
