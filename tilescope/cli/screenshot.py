"""`tilescope screenshot PATH -o OUT.png [--center X,Y] [--downsample D] [--size WxH]`.

Renders the viewer widget off screen with the same painting code as the window, after every
visible tile has loaded. Works without a display.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tilescope.cli.errors import CliError


def _pair(text: str, separator: str, kind: type) -> tuple:
    parts = text.lower().split(separator)
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected two numbers separated by {separator!r}")
    try:
        return (kind(parts[0]), kind(parts[1]))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "screenshot", help="render the viewer off screen to a PNG (waits for all tiles)"
    )
    parser.add_argument("path")
    parser.add_argument("-o", "--output", required=True, help="output image (.png)")
    parser.add_argument(
        "--center",
        type=lambda t: _pair(t, ",", float),
        metavar="X,Y",
        help="level-0 point at the centre (default: the slide's centre)",
    )
    parser.add_argument(
        "--downsample",
        type=float,
        metavar="D",
        help="level-0 pixels per output pixel (default: fit the whole slide)",
    )
    parser.add_argument(
        "--size",
        type=lambda t: _pair(t, "x", int),
        default=(1280, 800),
        metavar="WxH",
        help="view size in pixels (default 1280x800)",
    )
    parser.add_argument("--dpr", type=float, default=1.0, help="device pixel ratio (HiDPI: 2)")
    parser.add_argument(
        "--plain", action="store_true", help="slide pixels only, without minimap and scale bar"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for tiles")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    width, height = args.size
    if width <= 0 or height <= 0 or args.dpr <= 0:
        raise CliError(f"--size and --dpr must be positive, got {width}x{height}, {args.dpr}")
    if args.downsample is not None and args.downsample <= 0:
        raise CliError(f"--downsample must be positive, got {args.downsample}")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no window appears, no display needed
    from tilescope.gui.screenshot import render_screenshot

    try:
        image = render_screenshot(
            args.path,
            size=(width, height),
            center=args.center,
            downsample=args.downsample,
            dpr=args.dpr,
            plain=args.plain,
            timeout_s=args.timeout,
        )
    except TimeoutError as error:
        raise CliError(str(error)) from error
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(output)):
        raise CliError(f"{output}: cannot write the image (unknown extension or no permission)")
    return 0
