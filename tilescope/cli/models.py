"""`tilescope models list|check|import`: the installed models, checking a folder, importing.

`list --json` prints one object per model with at least id, type, name, folder, mpp
(number or "native"), classes, prompted, description, licence.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tilescope.cli.errors import EXIT_USAGE_OR_INPUT, CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list, check or import AI models")
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="models tilescope can run")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=run_list)
    check = actions.add_parser("check", help="validate a model folder and run it once")
    check.add_argument("folder")
    check.set_defaults(func=run_check)
    imp = actions.add_parser("import", help="import a bioimage.io package (ONNX weights)")
    imp.add_argument("path", help="package folder, its rdf.yaml/bioimageio.yaml, or a .zip")
    imp.add_argument("--force", action="store_true", help="replace a model with the same id")
    imp.set_defaults(func=run_import)


def model_json(manifest: Any) -> dict[str, Any]:
    return {
        "id": manifest.id,
        "type": manifest.type,
        "name": manifest.name,
        "version": manifest.version,
        "folder": str(manifest.folder),
        "mpp": "native" if manifest.input.mpp is None else manifest.input.mpp,
        "classes": [{"name": c.name, "colour": c.colour} for c in manifest.classes],
        "output": manifest.output_kind,
        "prompted": manifest.prompted,
        "tissue_detection": manifest.tissue_detection,
        "description": manifest.description,
        "licence": manifest.licence,
        "authors": list(manifest.authors),
    }


def run_list(args: argparse.Namespace) -> int:
    from tilescope.plugins.catalog import scan
    from tilescope.plugins.registry import load_errors

    entries = scan()
    models = [e.manifest for e in entries if e.manifest is not None]
    if args.json:
        print(json.dumps([model_json(m) for m in models], indent=2))
    else:
        for m in models:
            mpp = "native" if m.input.mpp is None else f"{m.input.mpp} µm/px"
            prompted = ", prompted" if m.prompted else ""
            classes = ", ".join(m.class_names) or "-"
            print(f"{m.id:<22} {m.type:<16} {mpp:<12} {classes}{prompted}  ({m.folder})")
    for entry in entries:
        if entry.error:
            print(f"tilescope: warning: skipped {entry.error}", file=sys.stderr)
    for name, error in load_errors().items():
        print(f"tilescope: warning: model type {name}: {error}", file=sys.stderr)
    return 0


def run_check(args: argparse.Namespace) -> int:
    from tilescope.plugins.check import check_model_folder

    manifest, problems = check_model_folder(args.folder)
    if problems:
        for problem in problems:
            print(f"tilescope: {problem}", file=sys.stderr)
        return EXIT_USAGE_OR_INPUT
    assert manifest is not None
    print(f"{manifest.id}: OK ({manifest.type}, {manifest.onnx}, ran once on a dummy input)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from tilescope.plugins.bioimageio import import_package
    from tilescope.plugins.check import check_model_folder
    from tilescope.plugins.manifest import ManifestError

    try:
        manifest = import_package(args.path, overwrite=args.force)
    except ManifestError as error:
        raise CliError(str(error)) from None
    _, problems = check_model_folder(manifest.folder)
    if problems:
        import shutil

        shutil.rmtree(manifest.folder, ignore_errors=True)
        raise CliError("; ".join(problems))
    print(f"imported {manifest.id} into {manifest.folder}")
    return 0
