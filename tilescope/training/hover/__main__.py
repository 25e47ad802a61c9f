"""`python -m tilescope.training.hover train|export ...` (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tilescope.training.hover")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train (resumes from OUT/last.pt), keep OUT/best.pt")
    train.add_argument(
        "--data", required=True, help="the nuclei data folder (../shared/data/nuclei)"
    )
    train.add_argument("--out", required=True, help="output folder (checkpoints, train.log)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--minutes", type=float, default=100.0, help="total training budget")
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--crop-size", type=int, default=192)
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument("--widths", default="12,24,48,96,128")
    train.add_argument("--eval-every", type=float, default=480.0, help="seconds")
    train.add_argument("--threads", type=int, default=1)
    export = sub.add_parser("export", help="export a checkpoint to ONNX")
    export.add_argument("--checkpoint", required=True)
    export.add_argument("--out", required=True, help="ONNX file to write")
    release = sub.add_parser("release", help="tune, export, write and measure the model folder")
    release.add_argument("--checkpoint", required=True)
    release.add_argument("--data", required=True)
    release.add_argument("--out", required=True, help="model folder to write")
    release.add_argument("--speed", default=None, help="text for the card's speed section")
    release.add_argument("--skip-tune", action="store_true")
    release.add_argument("--selection", default=None, help="how the checkpoint was chosen")
    release.add_argument(
        "--tune-on",
        choices=("train", "holdout"),
        default="train",
        help="tiles the post-processing thresholds are chosen on",
    )
    release.add_argument(
        "--no-int8", action="store_true", help="no int8 CPU weights (training.quantise)"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            from tilescope.training.hover.train import TrainOptions
            from tilescope.training.hover.train import train as run_train

            options = TrainOptions(
                data=Path(args.data),
                out=Path(args.out),
                seed=args.seed,
                minutes=args.minutes,
                device=args.device,
                batch_size=args.batch_size,
                crop_size=args.crop_size,
                lr=args.lr,
                widths=tuple(int(v) for v in args.widths.split(",")),
                eval_every_s=args.eval_every,
                threads=args.threads,
            )
            run = run_train(options)
            print(json.dumps({k: v for k, v in run.items() if k != "history"}, indent=1))
            return 0
        if args.command == "release":
            from tilescope.training.hover.release import release as run_release

            result = run_release(
                Path(args.checkpoint),
                Path(args.data),
                Path(args.out),
                args.speed,
                args.skip_tune,
                args.selection,
                args.tune_on,
                int8=not args.no_int8,
            )
            print(json.dumps(result["runtime"], indent=1))
            return 0
        from tilescope.training.hover.export import export_checkpoint

        print(export_checkpoint(Path(args.checkpoint), Path(args.out)))
        return 0
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
