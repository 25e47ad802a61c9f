"""`tilescope classify SLIDE --annotations IN --train LABELLED|--classifier CLF.onnx|--threshold
FEATURE>VALUE -o OUT`: classify objects by their measurements.

--train: a GeoJSON (or XML) of labelled examples: classified objects or points; each labels
the object of IN it lies on (or the object with the same id). Training is deterministic;
--save writes the classifier as ONNX (features and classes in its metadata). Objects not
measured yet are measured first.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tilescope.cli.analysis_common import (
    add_common_arguments,
    check_output,
    export,
    objects_store,
    open_with_pixel_size,
    progress_and_cancel,
)
from tilescope.cli.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("classify", help="classify objects by their measurements")
    add_common_arguments(parser)
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--train", metavar="LABELLED", help="file of labelled examples")
    how.add_argument("--classifier", metavar="CLF.onnx", help="a classifier saved with --save")
    how.add_argument(
        "--threshold",
        metavar="FEATURE>VALUE",
        help="e.g. dab_od_mean>0.2 (Positive/Negative), or dab_od_mean>0.2,0.4,0.6 "
        "(Negative/1+/2+/3+, with an H-score in summaries)",
    )
    parser.add_argument("--save", metavar="CLF.onnx", help="write the trained classifier")
    parser.add_argument(
        "--features", help="comma-separated measurements to train on (default: all)"
    )
    parser.add_argument(
        "--kind", choices=("random_forest", "gradient_boosting"), default="random_forest"
    )
    parser.add_argument("--above", default="Positive", help="--threshold: class above the value")
    parser.add_argument("--below", default="Negative", help="--threshold: class at or below it")
    parser.set_defaults(func=run)


def _labels_from_file(store: Any, path: str, run_id: str | None) -> tuple[list[str], list[str]]:
    from tilescope.engine.analysis.training import detections_at
    from tilescope.engine.annotations.errors import AnnotationFormatError
    from tilescope.engine.annotations.formats import read_annotations

    try:
        found = read_annotations(path)
    except AnnotationFormatError as error:
        raise CliError(str(error)) from None
    labelled = [a for a in found.annotations if a.class_name]
    if not labelled:
        raise CliError(f"{path}: no classified objects or points to learn from")
    known = store.existing_ids(a.id for a in labelled)
    labels: dict[str, str] = {a.id: a.class_name or "" for a in labelled if a.id in known}
    rest = [a for a in labelled if a.id not in known]
    points = [(p.x, p.y) for p in (a.geometry.representative_point() for a in rest)]
    for object_id, a in zip(detections_at(store, points, run_id), rest, strict=True):
        if object_id is not None:
            labels[object_id] = a.class_name or ""
    if len(set(labels.values())) < 2:
        raise CliError(f"{path}: need labelled objects of at least two classes on the objects")
    return list(labels), list(labels.values())


def run(args: argparse.Namespace) -> int:
    from tilescope.engine.analysis.classifier import ObjectClassifier, parse_threshold, train
    from tilescope.engine.analysis.measure import measure_store
    from tilescope.engine.analysis.training import apply_to_store, feature_matrix

    check_output(args.out)
    if args.save and not args.train:
        raise CliError("--save needs --train")
    slide, mpp, _ = open_with_pixel_size(args.slide, args.mpp, args.scene)
    with slide, objects_store(args.annotations, args.slide, args.scene) as store:
        if not store.measurement_names():
            with progress_and_cancel("measure") as (update, cancel):
                measure_store(store, slide, mpp, run_id=args.run, progress=update, cancel=cancel)
        model: Any
        if args.threshold:
            model = parse_threshold(args.threshold, args.above, args.below)
        elif args.classifier:
            model = ObjectClassifier.load(args.classifier)
        else:
            ids, labels = _labels_from_file(store, args.train, args.run)
            features = [f.strip() for f in args.features.split(",")] if args.features else None
            names, matrix = feature_matrix(store, ids, features)
            model = train(matrix, labels, names, args.kind)
            print(
                f"trained {args.kind} on {len(ids)} examples, {len(names)} features",
                file=sys.stderr,
            )
            if args.save:
                model.save(args.save)
        counts = apply_to_store(store, model, run_id=args.run)
        export(store, args.out, args.run, mpp)
    total = sum(counts.values())
    parts = ", ".join(
        f"{name or 'Unclassified'} {n} ({100 * n / total:.1f}%)" for name, n in counts.items()
    )
    print(f"{args.out}: {total} objects: {parts}")
    return 0
