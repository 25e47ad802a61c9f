"""``python -m tilescope.training.nuclick train|convert ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tilescope.training.nuclick")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train the click model, export ONNX, write the folder")
    train.add_argument("--data", type=Path, required=True, help="the nuclei data folder")
    train.add_argument("--out", type=Path, required=True, help="model folder to write")
    train.add_argument(
        "--work", type=Path, default=None, help="checkpoints + log (resumes from WORK/last.pt)"
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--minutes", type=float, default=4.0, help="wall-clock training budget")
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    train.add_argument("--batch", type=int, default=0, help="0: 96 on CUDA, 16 on CPU")
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument(
        "--eval-every", type=float, default=0.0, help="seconds; 0: 60 on CUDA, 480 on CPU"
    )
    train.add_argument("--objects", type=int, default=12000, help="training crops in memory")
    train.add_argument("--eval-per-group", type=int, default=150, help="held-out nuclei sample")
    train.add_argument(
        "--init-onnx", type=Path, default=None, help="warm start from a NuClick ONNX file"
    )
    train.add_argument("--squiggle-fraction", type=float, default=0.25)
    train.add_argument(
        "--inference-patch", type=int, default=64, help="click patch written to the manifest"
    )
    train.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    train.add_argument("--smoke", action="store_true", help="mark the model as a smoke run")

    release = sub.add_parser(
        "release", help="measure a trained folder on the held-out split, write the model folder"
    )
    release.add_argument("--trained", type=Path, required=True, help="folder `train` wrote")
    release.add_argument("--out", type=Path, required=True, help="model folder to write")
    release.add_argument("--data", type=Path, required=True, help="the nuclei data folder")
    release.add_argument("--threads", type=int, default=1)
    release.add_argument("--inference-patch", type=int, default=None, help="click patch, px")
    release.add_argument("--patch-note", default=None, help="why that patch (for the card)")
    release.add_argument(
        "--no-int8", action="store_true", help="no int8 CPU weights (training.quantise)"
    )

    convert = sub.add_parser(
        "convert", help="published NuClick PyTorch weights -> tilescope model folder"
    )
    convert.add_argument("weights", type=Path, help="state dict (.pth) of the original NuClick")
    convert.add_argument("--out", type=Path, required=True, help="model folder to write")
    convert.add_argument("--id", default="nuclick-original", help="model id")
    convert.add_argument("--mpp", type=float, default=0.25, help="resolution it was trained at")
    convert.add_argument("--licence", default="CC-BY-NC-SA-4.0", help="SPDX licence of the weights")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from tilescope.training.nuclick.train import TrainConfig, train

        cfg = TrainConfig(
            data=args.data,
            out=args.out,
            seed=args.seed,
            minutes=args.minutes,
            device=args.device,
            batch=args.batch,
            lr=args.lr,
            work=args.work,
            eval_every_s=args.eval_every,
            objects=args.objects,
            eval_per_group=args.eval_per_group,
            init_onnx=args.init_onnx,
            squiggle_fraction=args.squiggle_fraction,
            threads=args.threads,
            inference_patch=args.inference_patch,
            smoke=args.smoke,
        )
        train(cfg)
        return 0
    if args.command == "release":
        import json

        from tilescope.training.nuclick.folder import release as run_release

        result = run_release(
            args.trained,
            args.out,
            args.data,
            args.threads,
            args.inference_patch,
            args.patch_note,
            int8=not args.no_int8,
        )
        print(json.dumps(result, indent=1))
        return 0
    from tilescope.training.nuclick.convert import ConversionError, convert

    try:
        convert(args.weights, args.out, model_id=args.id, mpp=args.mpp, licence=args.licence)
    except ConversionError as error:
        print(f"convert: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
