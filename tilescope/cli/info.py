"""`tilescope info PATH [--json]`: what a slide is, without reading its pixels."""

from __future__ import annotations

import argparse

from tilescope.cli import arguments
from tilescope.engine.json_output import dumps
from tilescope.engine.slide import open_slide


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="print a slide's geometry and metadata")
    parser.add_argument("path", help="slide or image file (or .zarr folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--scene", type=arguments.index, default=0, help="scene/series index (default 0)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_slide(args.path, scene=args.scene) as slide:
        meta = slide.metadata
        info = meta.to_json(str(args.path))
        info["backend"] = slide.backend_name
    if args.json:
        print(dumps(info))
        return 0
    print(f"{info['path']}")
    print(f"  format      {info['format']} (read by {info['backend']})")
    print(f"  size        {info['width']} x {info['height']} px, {len(meta.levels)} levels")
    for index, level in enumerate(meta.levels):
        print(
            f"    level {index}: {level.width} x {level.height} (downsample {level.downsample:g})"
        )
    mpp = f"{meta.mpp[0]:g} x {meta.mpp[1]:g} um/px" if meta.mpp else "unknown"
    print(f"  resolution  {mpp}")
    for note in meta.notes:  # e.g. why a stated pixel size was not believed
        print(f"  note        {note}")
    power = f"{meta.objective_power:g}x" if meta.objective_power else "unknown"
    print(f"  objective   {power}")
    print(f"  channels    {meta.channels} ({', '.join(meta.channel_names)}), {meta.dtype}")
    print(f"  scenes      {meta.scene_count}")
    if meta.associated_images:
        print(f"  associated  {', '.join(meta.associated_images)}")
    return 0
