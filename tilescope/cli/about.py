"""`tilescope about [--json]`: versions of tilescope, Qt, OpenSlide, ONNX Runtime, providers."""

from __future__ import annotations

import argparse
import json

from tilescope.engine.about import about
from tilescope.engine.log_setup import log_file_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("about", help="print library versions and execution providers")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    info = about()
    info["log_file"] = str(log_file_path())
    if args.json:
        print(json.dumps(info))
        return 0
    for key, value in info.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"{key:28} {shown}")
    return 0
