"""`python -m tilescope.training.maskrcnn train|export ...`: retrain `nuclei-maskrcnn`.

Data: the shared nuclei corpus (`tilescope.training.corpus`: every source at 0.5 um/px,
whole organs/sources held out). `train` resumes from OUT/last.pt when it is there, keeps
OUT/best.pt (best held-out macro AJI), logs to OUT/train.log and OUT/history.json, then
exports OUT/nuclei-maskrcnn/ (ONNX, manifest, README, LICENSE) with held-out figures
measured through tilescope's runtime. Needs the `train` extra plus torchvision.

On a GPU machine with the project installed and ../shared/data/nuclei beside the
repository (one command; the same command again resumes after an interruption)::

    python -m tilescope.training.maskrcnn train --data ../shared/data/nuclei \\
        --out runs/maskrcnn --device cuda --minutes 60 --batch-size 12 --threads 8 \\
        --eval-every 300

Crops are drawn and augmented on the CPU in a background thread (`--prefetch`, on with
CUDA), targets are built on the GPU; held-out evaluation runs through the ONNX runtime
path on the CPU (~35 s per evaluation on one core; `--eval torch` for whole tiles in
PyTorch on the GPU instead). Watch OUT/train.log ("eval step ..." lines: F1/AJI/PQ per
held-out group, "*best" marks a new OUT/best.pt). If the held-out curve still rises at
the end, run again with a larger `--minutes` and the same `--out`. Then copy
OUT/nuclei-maskrcnn/ over tilescope/resources/models/nuclei-maskrcnn/ and raise the
thresholds of tests/plugins/test_maskrcnn_accuracy.py to its figures minus a margin.

A session with this workplace's `run` tool (GPU image: Python 3.12 with torch,
torchvision, numpy, scipy, scikit-image, pillow, pyyaml, onnx and onnxruntime, nothing
fetched there; at most 64 MiB travel and ~10 minutes a command). The nuclei folder
(~110 MB) does not travel: pack it at 0.5 um/px (~17 MB with JPEG images) and bring the
three wheels the image lacks. Here, in the repository root, once::

    echo /.gpu/ >> .git/info/exclude
    python -m tilescope.training.maskrcnn pack --data ../shared/data/nuclei \\
        --out .gpu/nuclei --jpeg-quality 95
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --implementation cp --platform manylinux_2_28_x86_64 -d .gpu/whl \\
        shapely==2.2.0 platformdirs==4.14.9 defusedxml==0.7.1

then `run` with carry [".gpu"] and timeout_s 600::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*.whl &&
    PYTHONPATH=.:/tmp/site PYTHONUNBUFFERED=1 python3 -m tilescope.training.maskrcnn train \\
        --data .gpu/nuclei --out $OUT/maskrcnn --device cuda --minutes 7 --batch-size 12 \\
        --threads 8 --eval-every 90 --no-export

and back here, from the returned files (best.pt, history.json, train.log)::

    python -m tilescope.training.maskrcnn export --checkpoint FILES/maskrcnn/best.pt \\
        --data ../shared/data/nuclei --out runs/nuclei-maskrcnn

(export: ONNX check against PyTorch, the held-out figures through the runtime on the
original PNG tiles, the card.) 7 minutes of training plus the corpus load and about five
evaluations (~15 s each with 8 threads) fit one 10-minute command. last.pt (31 MB, with
the optimizer state) comes back too, but it and the packed corpus together exceed what
travels, so a device session trains in one call. Not yet tried on a device.

On the CPU (2 cores; in the background, resumable)::

    nice -n 15 python -m tilescope.training.maskrcnn train --data ../shared/data/nuclei \\
        --out .train/maskrcnn --device cpu --threads 1 --minutes 600

`export --checkpoint OUT/best.pt --data ../shared/data/nuclei --out FOLDER` re-exports a
checkpoint (ONNX check against PyTorch, runtime held-out evaluation, card).

When the held-out curve has flattened, a weight-averaging phase (stochastic weight
averaging) usually buys a little more: continue the run (a copy of OUT, so its best.pt
stays) at a flat learning rate, keep a snapshot every few minutes, average them, then
export with the runtime thresholds chosen on the held-out split::

    cp -r .train/maskrcnn .train/maskrcnn-swa
    nice -n 15 python -m tilescope.training.maskrcnn train --data ../shared/data/nuclei \\
        --out .train/maskrcnn-swa --device cpu --threads 1 --minutes 300 \\
        --schedule constant --lr 1e-4 --snapshot-every 480 --no-export
    python -m tilescope.training.maskrcnn average .train/maskrcnn-swa/snap/*.pt \\
        --out .train/maskrcnn-swa/swa.pt
    python -m tilescope.training.maskrcnn export --checkpoint .train/maskrcnn-swa/swa.pt \\
        --data ../shared/data/nuclei --out FOLDER --score-floor 0.3 --tune-on holdout

`--arch wide` trains the wider trunk and heads of `model.ARCHITECTURES` (the side-by-side
comparison in the model card); a resumed run keeps the architecture it started with.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MAX_ONNX_MB = 15.0


def _export(
    checkpoint: Path,
    data: Path,
    folder: Path,
    run: dict[str, Any],
    version: str,
    smoke: bool,
    score_floor: float | None = None,
    tune: bool = False,
    note: str = "",
) -> int:
    import numpy as np

    from tilescope.training.corpus.runtime_eval import holdout_tiles
    from tilescope.training.maskrcnn.card import (
        ONNX_NAME,
        PATCH_SIZE,
        runtime_figures,
        write_model_folder,
    )
    from tilescope.training.maskrcnn.export import compare_with_onnxruntime, export_onnx
    from tilescope.training.maskrcnn.model import load_checkpoint

    model, _, meta = load_checkpoint(checkpoint)
    if meta.get("averaged_steps"):
        run = run | {"averaged_steps": meta["averaged_steps"]}
    if note:
        run = run | {"note": note}
    if score_floor is not None:
        # Detections under the floor never reach the runtime's score_threshold (0.5 by
        # default) but each costs a mask-head pass inside the graph: a floor makes it cheaper.
        model.roi_heads.score_thresh = score_floor
    tile = max(holdout_tiles(data), key=lambda t: t.labels.size)
    example = np.ascontiguousarray(tile.image[:PATCH_SIZE, :PATCH_SIZE])
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / ONNX_NAME
        started = time.monotonic()
        export_onnx(model, onnx_path, example)
        verify = compare_with_onnxruntime(model, onnx_path, example)
        verify["in_graph_score_floor"] = float(model.roi_heads.score_thresh)
        size_mb = onnx_path.stat().st_size / 1e6
        print(
            f"exported step {meta.get('step')} ({size_mb:.1f} MB) in "
            f"{time.monotonic() - started:.1f}s; ONNX Runtime vs PyTorch: {verify}",
            flush=True,
        )
        if size_mb >= MAX_ONNX_MB:
            print(
                f"error: {onnx_path.name} is {size_mb:.1f} MB, over {MAX_ONNX_MB} MB",
                file=sys.stderr,
            )
            return 1
        write_model_folder(folder, onnx_path, run, {}, verify, version, smoke)
    if tune:
        from tilescope.training.maskrcnn.tune import tune_thresholds

        run = run | {"tuning": tune_thresholds(folder, data)}
        print(f"thresholds chosen on the held-out split: {run['tuning']['best']}", flush=True)
        write_model_folder(folder, folder / ONNX_NAME, run, {}, verify, version, smoke)
    runtime, seconds = runtime_figures(folder, data)
    print(f"runtime held-out ({seconds:.0f}s): {json.dumps(runtime)}", flush=True)
    write_model_folder(folder, folder / ONNX_NAME, run, runtime, verify, version, smoke)
    print(f"model folder: {folder}", flush=True)
    return 0


def _history(checkpoint: Path) -> dict[str, Any]:
    path = checkpoint.with_name("history.json")
    return json.loads(path.read_text()) if path.is_file() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tilescope.training.maskrcnn")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train (resumes from OUT/last.pt), keep OUT/best.pt")
    train.add_argument("--data", required=True, help="the nuclei folder (../shared/data/nuclei)")
    train.add_argument("--out", required=True, help="output folder (checkpoints, train.log)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--minutes", type=float, default=60.0, help="total training budget")
    train.add_argument("--steps", type=int, default=None, help="a step budget instead")
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    train.add_argument("--batch-size", type=int, default=None, help="default 12 CUDA, 2 CPU")
    train.add_argument("--crop-size", type=int, default=256)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--hard-negatives", type=float, default=None, help="share of crops")
    train.add_argument("--eval-every", type=float, default=None, help="seconds (120 CUDA, 900 CPU)")
    train.add_argument("--eval-tiles-per-group", type=int, default=None, help="smoke runs")
    train.add_argument("--checkpoint-every", type=float, default=180.0, help="seconds")
    train.add_argument(
        "--prefetch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw batches in a background thread (default: on with CUDA)",
    )
    train.add_argument(
        "--eval",
        dest="eval_path",
        choices=("runtime", "torch"),
        default="runtime",
        help="held-out evaluation: through the ONNX runtime path (the card's figure) or "
        "whole tiles in PyTorch (quicker on a GPU)",
    )
    train.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        default="cosine",
        help="LR after warm-up: cosine decay, or flat (weight averaging, with --snapshot-every)",
    )
    train.add_argument(
        "--snapshot-every", type=float, default=None, help="seconds; keeps OUT/snap/step-N.pt"
    )
    train.add_argument(
        "--arch",
        choices=("slim", "wide"),
        default="slim",
        help="trunk and head widths of a new run (model.ARCHITECTURES; resumed runs keep theirs)",
    )
    train.add_argument("--no-export", action="store_true", help="stop after training")
    average = sub.add_parser("average", help="mean weights of snapshots -> one checkpoint")
    average.add_argument("checkpoints", nargs="+", help="snapshots of one run (OUT/snap/*.pt)")
    average.add_argument("--out", required=True, help="checkpoint to write (for export)")
    pack = sub.add_parser("pack", help="the corpus at 0.5 um/px as a small folder (for a GPU)")
    pack.add_argument("--data", required=True, help="the nuclei folder (../shared/data/nuclei)")
    pack.add_argument("--out", required=True, help="a new folder")
    pack.add_argument("--jpeg-quality", type=int, default=None, help="JPEG images (e.g. 95)")
    export = sub.add_parser("export", help="checkpoint -> model folder, figures measured")
    export.add_argument("--checkpoint", required=True)
    export.add_argument("--data", required=True)
    export.add_argument("--out", required=True, help="model folder to write")
    export.add_argument(
        "--score-floor",
        type=float,
        default=None,
        help="drop detections under this score inside the graph (faster; default: as trained)",
    )
    export.add_argument(
        "--tune-on",
        choices=("none", "holdout"),
        default="none",
        help="choose score/mask thresholds on the held-out split (a grid through the runtime)",
    )
    export.add_argument("--note", default="", help="a sentence for the card (how it was run)")
    for p in (train, export):
        p.add_argument("--version", default="2.0", help="model version in the manifest")
        p.add_argument("--smoke", action="store_true", help="mark the model card as a smoke run")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            from tilescope.training.maskrcnn.pack import pack_corpus

            index = pack_corpus(Path(args.data), Path(args.out), jpeg_quality=args.jpeg_quality)
            print(f"packed {index['tiles']} tiles into {args.out}", flush=True)
            return 0
        if args.command == "average":
            from tilescope.training.maskrcnn.model import average_checkpoints, save_checkpoint

            model, config, meta = average_checkpoints([Path(c) for c in args.checkpoints])
            save_checkpoint(Path(args.out), model, config, meta)
            print(f"averaged {len(args.checkpoints)} checkpoints (steps {meta['averaged_steps']})")
            return 0
        if args.command == "export":
            checkpoint = Path(args.checkpoint)
            return _export(
                checkpoint,
                Path(args.data),
                Path(args.out),
                _history(checkpoint),
                args.version,
                args.smoke,
                args.score_floor,
                args.tune_on == "holdout",
                args.note,
            )
        from tilescope.training.maskrcnn.data import HARD_NEGATIVE_SHARE
        from tilescope.training.maskrcnn.train import TrainOptions
        from tilescope.training.maskrcnn.train import train as run_train

        options = TrainOptions(
            data=Path(args.data),
            out=Path(args.out),
            seed=args.seed,
            minutes=args.minutes,
            steps=args.steps,
            device=args.device,
            batch_size=args.batch_size,
            crop_size=args.crop_size,
            lr=args.lr,
            hard_negative_share=(
                HARD_NEGATIVE_SHARE if args.hard_negatives is None else args.hard_negatives
            ),
            eval_every_s=args.eval_every,
            eval_tiles_per_group=args.eval_tiles_per_group,
            checkpoint_every_s=args.checkpoint_every,
            threads=args.threads,
            prefetch=args.prefetch,
            eval_path=args.eval_path,
            schedule=args.schedule,
            snapshot_every_s=args.snapshot_every,
            arch=args.arch,
        )
        try:
            run = run_train(options)
        except KeyboardInterrupt:
            print(
                f"interrupted; resume with the same command ({args.out}/last.pt)", file=sys.stderr
            )
            return 130
        print(json.dumps({k: v for k, v in run.items() if k != "history"}, indent=1), flush=True)
        if args.no_export:
            return 0
        out = Path(args.out)
        from tilescope.training.maskrcnn.card import MODEL_ID

        return _export(
            out / "best.pt", Path(args.data), out / MODEL_ID, run, args.version, args.smoke
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
