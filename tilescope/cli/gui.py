"""`tilescope gui [PATH...]` opens the viewer; `tilescope demo` opens the bundled demo slide."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    gui = subparsers.add_parser("gui", help="open the viewer (the default with no command)")
    gui.add_argument("paths", nargs="*", metavar="PATH", help="slides or images to open")
    gui.set_defaults(func=run)
    demo = subparsers.add_parser("demo", help="open the viewer on the bundled demo slide")
    demo.set_defaults(func=run_demo)


def run(args: argparse.Namespace) -> int:
    from tilescope.gui.app import run_app

    return run_app(list(args.paths))


def run_demo(args: argparse.Namespace) -> int:
    from tilescope.gui.app import run_app
    from tilescope.resources import demo_slide_path

    return run_app([demo_slide_path()])
