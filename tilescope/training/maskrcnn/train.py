"""The training loop: wall-clock budget, LR schedule over that budget, periodic held-out eval.

The LR follows the fraction of the budget used (linear warm-up, then cosine), so a
4-minute GPU run and a 3-minute CPU smoke run both finish their schedule. The checkpoint
with the best held-out score is kept: a collapse would be silent in the training loss.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tilescope.training.maskrcnn.augment import make_batch
from tilescope.training.maskrcnn.data import (
    TARGET_MPP,
    SourceTile,
    build_crop_pool,
    load_tiles,
    split_train_holdout,
)
from tilescope.training.maskrcnn.metrics import InstanceScores, instance_scores, label_image
from tilescope.training.maskrcnn.model import (
    ModelConfig,
    build_model,
    parameter_count,
    save_checkpoint,
)

SCORE_THRESHOLD = 0.5
MASK_THRESHOLD = 0.5


@dataclass
class TrainOptions:
    data: Path
    out: Path
    seed: int = 0
    minutes: float = 3.0
    steps: int | None = None  # a fixed step count instead of the clock (exactly reproducible)
    device: str = "auto"
    batch_size: int | None = None  # default: 12 on CUDA, 2 on CPU
    crop_size: int = 256
    pool_size: int | None = None  # default: 2048 on CUDA, 256 on CPU
    lr: float = 1e-3
    eval_every_s: float | None = None


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def channel_stats(tiles: list[SourceTile]) -> tuple[list[float], list[float]]:
    pixels = np.concatenate([t.image.reshape(-1, 3) for t in tiles]).astype(np.float64) / 255.0
    return [round(float(v), 4) for v in pixels.mean(0)], [round(float(v), 4) for v in pixels.std(0)]


@torch.no_grad()
def evaluate(model: torch.nn.Module, tile: SourceTile, device: torch.device) -> InstanceScores:
    """Instance F1@0.5 and AJI of the model (eval mode, torchvision's own mask pasting)."""
    was_training = model.training
    model.eval()
    image = torch.from_numpy(tile.image).permute(2, 0, 1).float().div(255).to(device)
    output = model([image])[0]
    model.train(was_training)
    keep = output["scores"] >= SCORE_THRESHOLD
    masks = (output["masks"][keep, 0] >= MASK_THRESHOLD).cpu().numpy()
    scores = output["scores"][keep].cpu().numpy()
    predicted = label_image(masks, scores, tile.labels.shape)
    return instance_scores(tile.labels, predicted)


def learning_rate(base: float, progress: float) -> float:
    warmup = 0.05
    if progress < warmup:
        return base * (0.1 + 0.9 * progress / warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))
    return base * (0.02 + 0.98 * cosine)


def train(options: TrainOptions) -> dict:
    """Train, keep the best checkpoint as OUT/best.pt; returns the run summary."""
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(options.device)
    cuda = device.type == "cuda"
    seed_everything(options.seed)
    batch_size = options.batch_size or (12 if cuda else 2)
    pool_size = options.pool_size or (2048 if cuda else 256)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = False

    train_tiles, holdout = split_train_holdout(load_tiles(options.data))
    mean, std = channel_stats(train_tiles)
    config = ModelConfig(image_mean=mean, image_std=std)
    started = time.monotonic()
    rng = np.random.default_rng(options.seed)
    pool_images, pool_labels = build_crop_pool(train_tiles, pool_size, options.crop_size, rng)
    pool_images_t = torch.from_numpy(pool_images).to(device)
    pool_labels_t = torch.from_numpy(pool_labels).to(device)
    print(
        f"crop pool: {pool_size} x {options.crop_size}px in {time.monotonic() - started:.1f}s",
        flush=True,
    )

    model = build_model(config).to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=1e-4)
    generator = torch.Generator(device=device)
    generator.manual_seed(options.seed)

    budget = options.minutes * 60.0
    eval_every = options.eval_every_s or min(180.0, max(15.0, budget / 12))
    history: list[dict] = []
    best = -1.0
    best_entry: dict | None = None
    step = 0
    t0 = time.monotonic()
    next_eval = eval_every
    losses: list[float] = []

    def progress() -> float:
        if options.steps:
            return step / options.steps
        return (time.monotonic() - t0) / budget

    def run_eval() -> None:
        nonlocal best, best_entry
        scores = evaluate(model, holdout, device)
        entry = {"step": step, "seconds": round(time.monotonic() - t0, 1)} | scores.as_dict()
        entry["loss"] = round(float(np.mean(losses[-50:])), 4) if losses else None
        history.append(entry)
        value = (scores.f1 + scores.aji) / 2
        marker = ""
        if value > best:
            best, best_entry = value, entry
            meta = {
                "step": step,
                "holdout": scores.as_dict(),
                "mpp": TARGET_MPP,
                "seed": options.seed,
            }
            save_checkpoint(out / "best.pt", model, config, meta)
            marker = " *best"
        print(
            f"eval step {step} t={entry['seconds']}s F1@0.5={scores.f1:.3f} AJI={scores.aji:.3f} "
            f"pred={scores.n_pred}/{scores.n_true}{marker}",
            flush=True,
        )

    def train_step() -> None:
        nonlocal step
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(options.lr, progress())
        images, targets = make_batch(pool_images_t, pool_labels_t, batch_size, generator)
        loss_dict = model(images, targets)
        loss = sum(loss_dict.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        step += 1
        losses.append(float(loss.detach()))
        if step % 50 == 0 or (step < 50 and step % 10 == 0):
            parts = " ".join(
                f"{k.replace('loss_', '')}={float(v):.3f}" for k, v in loss_dict.items()
            )
            lr = optimizer.param_groups[0]["lr"]
            print(
                f"step {step} t={time.monotonic() - t0:.0f}s lr={lr:.2e} "
                f"loss={np.mean(losses[-50:]):.3f} ({parts})",
                flush=True,
            )

    try:
        while progress() < 1.0:
            train_step()
            if not options.steps and time.monotonic() - t0 >= next_eval:
                run_eval()
                next_eval += eval_every
            elif options.steps and step % max(1, options.steps // 10) == 0:
                run_eval()
    except KeyboardInterrupt:  # Ctrl+C: stop early, still evaluate, export the best so far
        print(f"interrupted at step {step}; keeping the best checkpoint so far", flush=True)
    if not history or history[-1]["step"] != step:
        run_eval()

    summary = {
        "device": str(device),
        "torch": torch.__version__,
        "steps": step,
        "train_seconds": round(time.monotonic() - t0, 1),
        "batch_size": batch_size,
        "crop_size": options.crop_size,
        "pool_size": pool_size,
        "seed": options.seed,
        "minutes": options.minutes,
        "parameters": parameter_count(model),
        "best": best_entry,
        "history": history,
    }
    (out / "history.json").write_text(json.dumps(summary, indent=2))
    return summary
