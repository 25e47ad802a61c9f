"""`python -m tilescope.training.maskrcnn train|export ...` (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    from tilescope.training.maskrcnn.train import TrainOptions, train

    options = TrainOptions(
        data=Path(args.data),
        out=Path(args.out),
        seed=args.seed,
        minutes=args.minutes,
        steps=args.steps,
        device=args.device,
        batch_size=args.batch_size,
        crop_size=args.crop_size,
        pool_size=args.pool_size,
        lr=args.lr,
    )
    run = train(options)
    print(json.dumps({k: v for k, v in run.items() if k != "history"}, indent=1), flush=True)
    return _export(Path(args.out) / "best.pt", Path(args.data), Path(args.out), run, args)


def _export(checkpoint: Path, data: Path, out: Path, run: dict, args: argparse.Namespace) -> int:
    import onnx  # noqa: F401  (fail early when missing)

    from tilescope.training.maskrcnn.card import MODEL_ID, ONNX_NAME, write_model_folder
    from tilescope.training.maskrcnn.data import holdout_tile
    from tilescope.training.maskrcnn.export import compare_with_onnxruntime, export_onnx
    from tilescope.training.maskrcnn.model import load_checkpoint

    model, _, _ = load_checkpoint(checkpoint)
    tile = holdout_tile(data)
    (out / MODEL_ID).mkdir(parents=True, exist_ok=True)
    onnx_path = out / MODEL_ID / ONNX_NAME
    started = time.monotonic()
    export_onnx(model, onnx_path, tile.image)
    verify = compare_with_onnxruntime(model, onnx_path, tile.image)
    size_mb = onnx_path.stat().st_size / 1e6
    print(
        f"exported {onnx_path} ({size_mb:.1f} MB) in {time.monotonic() - started:.1f}s", flush=True
    )
    print(f"ONNX Runtime vs PyTorch: {verify}", flush=True)
    if size_mb >= 15:
        print(f"error: {onnx_path} is {size_mb:.1f} MB, over the 15 MB limit", file=sys.stderr)
        return 1
    folder = write_model_folder(
        out / MODEL_ID, onnx_path, run, verify, args.version, smoke=args.smoke
    )
    print(f"model folder: {folder}", flush=True)
    return 0


def _export_only(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    history = Path(args.checkpoint).with_name("history.json")
    run = json.loads(history.read_text()) if history.is_file() else {}
    return _export(Path(args.checkpoint), Path(args.data), out, run, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tilescope.training.maskrcnn")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train, keep the best checkpoint, export, verify")
    train.add_argument("--data", required=True, help="folder holding miccai2015/")
    train.add_argument("--out", required=True, help="output folder")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--minutes", type=float, default=3.0, help="wall-clock training budget")
    train.add_argument("--steps", type=int, default=None, help="fixed step count instead")
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--crop-size", type=int, default=256)
    train.add_argument("--pool-size", type=int, default=None)
    train.add_argument("--lr", type=float, default=1e-3)
    export = sub.add_parser("export", help="export a checkpoint and write the model folder")
    export.add_argument("--checkpoint", required=True)
    export.add_argument("--data", required=True)
    export.add_argument("--out", required=True)
    for p in (train, export):
        p.add_argument("--version", default="1.0", help="model version in the manifest")
        p.add_argument("--smoke", action="store_true", help="mark the model card as a smoke run")
    args = parser.parse_args(argv)
    try:
        return _train(args) if args.command == "train" else _export_only(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
