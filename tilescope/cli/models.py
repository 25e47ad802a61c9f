"""`tilescope models list|show|check|import`: the installed models, one model's card,
checking a folder, importing.

`list` prints a table (id, name, type, mpp, classes, licence); `list --long` and `show ID`
print model cards; `list --json` prints one object per model with at least id, type, name,
folder, mpp (number or "native"), classes, prompted, description, licence.
`check` lists every problem of a folder at once and the sha256 it computed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tilescope.cli.errors import EXIT_USAGE_OR_INPUT, CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list, show, check or import AI models")
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="models tilescope can run")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--long", action="store_true", help="each model's full card")
    listing.set_defaults(func=run_list)
    show = actions.add_parser("show", help="one model's card (description, licence, authors...)")
    show.add_argument("model", help="model id (see `models list`) or model folder")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=run_show)
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


def _mpp_text(manifest: Any) -> str:
    return "native" if manifest.input.mpp is None else f"{manifest.input.mpp:g} µm/px"


def model_table(models: list[Any]) -> list[str]:
    """Rows of `models list`: aligned columns, a header, long cells shortened."""
    header = ("ID", "NAME", "TYPE", "MPP", "CLASSES", "LICENCE")
    rows = [
        (
            m.id,
            m.name + (" (prompted)" if m.prompted else ""),
            m.type,
            _mpp_text(m),
            ", ".join(m.class_names) or "-",
            m.licence,
        )
        for m in models
    ]
    limits = (28, 36, 20, 12, 40, 24)
    cells = [
        [_shorten(text, limit) for text, limit in zip(row, limits, strict=True)] for row in rows
    ]
    widths = [max(len(r[i]) for r in [list(header), *cells]) for i in range(len(header))]
    lines = []
    for row in [list(header), *cells]:
        lines.append("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)))
    return [line.rstrip() for line in lines]


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def model_card(manifest: Any) -> list[str]:
    """The model card as `key: value` lines, for `models show` and `models list --long`."""
    inp = manifest.input
    lines = [
        f"{manifest.id}: {manifest.name} (version {manifest.version})",
        f"  type:        {manifest.type} ({manifest.output_kind})",
        f"  description: {' '.join(manifest.description.split())}",
        f"  licence:     {manifest.licence}"
        + (f" ({manifest.folder / manifest.licence_file})" if manifest.licence_file else ""),
    ]
    if manifest.authors:
        lines.append(f"  authors:     {', '.join(manifest.authors)}")
    if manifest.citation:
        lines.append(f"  citation:    {' '.join(manifest.citation.split())}")
    if manifest.source:
        lines.append(f"  source:      {manifest.source}")
    classes = ", ".join(f"{c.name} {c.colour}" for c in manifest.classes) or "-"
    lines += [
        f"  classes:     {classes}",
        f"  input:       {_mpp_text(manifest)}, patch {inp.patch_size[0]} x {inp.patch_size[1]}, "
        f"{inp.channel_order}, normalisation {inp.normalisation.kind}",
        f"  prompted:    {'yes' if manifest.prompted else 'no'}; "
        f"tissue detection: {'yes' if manifest.tissue_detection else 'no'}",
        f"  folder:      {manifest.folder}",
        f"  weights:     {manifest.onnx} (sha256 {manifest.sha256})",
    ]
    if manifest.cpu_onnx:
        lines.append(
            f"  CPU weights: {manifest.cpu_onnx} (int8, sha256 {manifest.cpu_sha256}; "
            "setting cpu_int8_weights)"
        )
    return lines


def run_list(args: argparse.Namespace) -> int:
    from tilescope.plugins.catalog import scan
    from tilescope.plugins.registry import load_errors

    entries = scan()
    models = [e.manifest for e in entries if e.manifest is not None]
    if args.json:
        print(json.dumps([model_json(m) for m in models], indent=2))
    elif args.long:
        for index, m in enumerate(models):
            if index:
                print()
            print("\n".join(model_card(m)))
    elif models:
        print("\n".join(model_table(models)))
        print("(`tilescope models show ID` prints a model's card)")
    else:
        print("no models installed")
    for entry in entries:
        if entry.error:
            print(f"tilescope: warning: skipped {entry.error}", file=sys.stderr)
    for name, error in load_errors().items():
        print(f"tilescope: warning: model type {name}: {error}", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from tilescope.plugins.catalog import find_model

    manifest = find_model(args.model)  # ManifestError: one line, exit 2
    if args.json:
        print(json.dumps(model_json(manifest), indent=2))
    else:
        print("\n".join(model_card(manifest)))
    return 0


def run_check(args: argparse.Namespace) -> int:
    from tilescope.plugins.check import check_model

    report = check_model(args.folder)
    if report.sha256 is not None:
        print(f"sha256 {report.sha256}  {report.onnx}")
    if report.problems:
        count = len(report.problems)
        print(f"tilescope: {args.folder}: {count} problem{'s' * (count > 1)}:", file=sys.stderr)
        for problem in report.problems:
            print(f"tilescope:   {problem}", file=sys.stderr)
        return EXIT_USAGE_OR_INPUT
    manifest = report.manifest
    assert manifest is not None
    if manifest.cpu_onnx:
        print(f"sha256 {manifest.cpu_sha256}  {manifest.cpu_onnx_path} (int8, for the CPU)")
    ran = report.ran.name if report.ran else manifest.onnx
    print(f"{manifest.id}: OK ({manifest.type}, {ran} ran once on a dummy input)")
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
