"""`tilescope screenshot PATH -o OUT.png [--center X,Y] [--downsample D] [--size WxH]`.

Renders the viewer widget off screen with the same painting code as the window, after every
visible tile has loaded. Works without a display.
"""

from __future__ import annotations

import argparse
import logging
import os

from tilescope.cli import arguments
from tilescope.cli.errors import CliError
from tilescope.engine.budget import check_allocation
from tilescope.engine.outputs import check_output_path, suffix_of, write_bytes

OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
_side = arguments.number(1, arguments.MAX_VIEW_SIDE, integer=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "screenshot", help="render the viewer off screen to a PNG (waits for all tiles)"
    )
    parser.add_argument("path")
    parser.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .bmp)")
    parser.add_argument(
        "--center",
        type=arguments.pair(",", arguments.coordinate, "X,Y"),
        metavar="X,Y",
        help="level-0 point at the centre (default: the slide's centre)",
    )
    parser.add_argument(
        "--downsample",
        type=arguments.downsample,
        metavar="D",
        help="level-0 pixels per output pixel (default: fit the whole slide)",
    )
    parser.add_argument(
        "--size",
        type=arguments.pair("x", _side, "WxH"),
        default=(1280, 800),
        metavar="WxH",
        help="view size in pixels (default 1280x800)",
    )
    parser.add_argument(
        "--dpr", type=arguments.dpr, default=1.0, help="device pixel ratio (HiDPI: 2)"
    )
    arguments.add_mpp(parser, "pixel size in um for the scale bar (overrides the slide's)")
    parser.add_argument(
        "--plain", action="store_true", help="slide pixels only, without minimap and scale bar"
    )
    parser.add_argument(
        "--timeout", type=arguments.seconds, default=120.0, help="seconds to wait for tiles"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    width, height = args.size
    output = check_output_path(args.output, OUTPUT_EXTENSIONS)
    device_w, device_h = round(width * args.dpr), round(height * args.dpr)
    # the rendered image, the view's own frame and the encoder's copy
    check_allocation(3 * 4 * device_w * device_h, f"a {device_w} x {device_h} pixel screenshot")
    if args.mpp is not None:
        from tilescope.engine.pixel_size import check_mpp

        check_mpp(args.mpp)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no window appears, no display needed
    _viewer_logs_to_file_only()
    from tilescope.gui.viewer.screenshot import encode_image, render_screenshot

    try:
        image = render_screenshot(
            args.path,
            size=(width, height),
            center=args.center,
            downsample=args.downsample,
            dpr=args.dpr,
            plain=args.plain,
            timeout_s=args.timeout,
            mpp=args.mpp,
        )
    except TimeoutError as error:
        raise CliError(str(error)) from error
    data = encode_image(image, (suffix_of(output, OUTPUT_EXTENSIONS) or ".png").lstrip("."))
    write_bytes(output, data)
    return 0


def _viewer_logs_to_file_only() -> None:
    """The viewer's warnings (a failed tile) go to the log; the error itself is one line."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            handler.addFilter(lambda record: not record.name.startswith("tilescope.gui"))
