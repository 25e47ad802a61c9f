"""Training loop: wall-clock budget, resumable, held-out evaluation, best checkpoint by AJI.

OUT/last.pt is written every `checkpoint_every_s`, on Ctrl+C and on `kill` (model,
optimizer, step, seconds trained, the numpy and torch random states, history); starting
again with the same OUT resumes from it. The budget (`--minutes`, or `--steps`) counts
training time only, not evaluations or checkpoint writes, and the LR follows the fraction
of it trained so far, so an interrupted run ends its schedule where an uninterrupted one
would, whatever the evaluation interval. OUT/best.pt (the `model.save_checkpoint` format
that `export` reads) is the checkpoint with the best macro held-out AJI: the mean over the
held-out organs/sources of the corpus split, never a tile of a training slide.
"""

from __future__ import annotations

import json
import math
import random
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tilescope.training.corpus.sampler import source_weights
from tilescope.training.corpus.scores import format_summary
from tilescope.training.corpus.split import group_of
from tilescope.training.maskrcnn.augment import Prefetcher, make_batch
from tilescope.training.maskrcnn.data import (
    HARD_NEGATIVE_SHARE,
    TARGET_MPP,
    CropPool,
    channel_stats,
    load_split,
)
from tilescope.training.maskrcnn.evaluate import evaluate, evaluate_runtime
from tilescope.training.maskrcnn.model import (
    ARCHITECTURES,
    ModelConfig,
    build_model,
    parameter_count,
    save_checkpoint,
)


@dataclass
class TrainOptions:
    data: Path
    out: Path
    seed: int = 0
    minutes: float = 60.0  # total budget over every resumed session
    steps: int | None = None  # a step budget instead of the clock
    device: str = "auto"
    batch_size: int | None = None  # default: 12 on CUDA, 2 on CPU
    crop_size: int = 256
    lr: float = 1e-3
    hard_negative_share: float = HARD_NEGATIVE_SHARE
    eval_every_s: float | None = None  # default: 120 s on CUDA, 900 s on CPU
    eval_tiles_per_group: int | None = None  # a quick subset of the held-out tiles (smoke runs)
    checkpoint_every_s: float = 180.0
    threads: int = 1
    prefetch: bool | None = None  # draw batches in a background thread; default: on CUDA
    eval_path: str = "runtime"  # "runtime" (ONNX, the card's figure) or "torch" (whole tiles)
    schedule: str = "cosine"  # or "constant": the flat LR of a weight-averaging phase
    snapshot_every_s: float | None = None  # keep OUT/snap/step-N.pt (weights only) this often
    arch: str = "slim"  # a key of model.ARCHITECTURES (new runs; a resumed run keeps its own)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return torch.device(name)


def learning_rate(base: float, progress: float, schedule: str = "cosine") -> float:
    """Linear warm-up over the first 5 %, then cosine down to 2 % of `base` (or flat)."""
    warmup = 0.05
    if progress < warmup:
        return base * (0.1 + 0.9 * progress / warmup)
    if schedule == "constant":
        return base
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))
    return base * (0.02 + 0.98 * cosine)


def eval_subset(tiles: list, per_group: int | None) -> list:
    """The first `per_group` held-out tiles of each group (all when None)."""
    if per_group is None:
        return list(tiles)
    seen: dict[str, int] = {}
    out = []
    for tile in tiles:
        group = group_of(tile)
        if seen.get(group, 0) < per_group:
            seen[group] = seen.get(group, 0) + 1
            out.append(tile)
    return out


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _log_line(path: Path, text: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {text}"
    print(line, flush=True)
    with open(path, "a") as handle:
        handle.write(line + "\n")


def _random_states(rng: np.random.Generator, generator: torch.Generator) -> dict[str, Any]:
    states: dict[str, Any] = {
        "numpy_rng": rng.bit_generator.state,
        "torch_generator": generator.get_state(),
        "torch_global": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_random_states(
    states: dict[str, Any], rng: np.random.Generator, generator: torch.Generator
) -> None:
    rng.bit_generator.state = states["numpy_rng"]
    generator.set_state(states["torch_generator"])
    torch.set_rng_state(states["torch_global"])
    version, _, gauss = random.getstate()
    random.setstate((version, tuple(states["python"]), gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt("SIGTERM")


def train(options: TrainOptions) -> dict[str, Any]:
    """Train (resuming from OUT/last.pt when there), keep OUT/best.pt; the run summary."""
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train.log"

    scale_lines: list[str] = []

    def log(text: str) -> None:
        if text.startswith("scale estimate"):
            scale_lines.append(text)
        _log_line(log_path, text)

    torch.set_num_threads(options.threads)
    device = pick_device(options.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    batch_size = options.batch_size or (12 if cuda else 2)
    eval_every = options.eval_every_s or (120.0 if cuda else 900.0)
    random.seed(options.seed)
    np.random.seed(options.seed)
    torch.manual_seed(options.seed)

    started = time.monotonic()
    split = load_split(options.data, log)
    for line in split.describe():
        log(line)
    holdout = eval_subset(split.holdout, options.eval_tiles_per_group)
    log(f"source weights: {source_weights(split.train)}")
    log(f"corpus loaded in {time.monotonic() - started:.1f}s")

    mean, std = channel_stats(split.train)
    config = ModelConfig(image_mean=mean, image_std=std, **ARCHITECTURES[options.arch])  # type: ignore[arg-type]
    rng = np.random.default_rng(options.seed)
    generator = torch.Generator()
    generator.manual_seed(options.seed)
    state: dict[str, Any] = {"step": 0, "seconds": 0.0, "history": [], "best": None}
    last = out / "last.pt"
    payload = torch.load(last, map_location="cpu", weights_only=True) if last.is_file() else None
    if payload is not None:
        config = ModelConfig.from_dict(payload["config"])
    model = build_model(config).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=1e-4)
    if payload is not None:
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        _restore_random_states(payload["random"], rng, generator)
        state = payload["state"]
        log(f"resumed from {last}: step {state['step']}, {state['seconds'] / 60:.1f} min trained")
    pool = CropPool(split.train, options.crop_size, rng, options.hard_negative_share)
    prefetch = cuda if options.prefetch is None else options.prefetch
    log(
        f"model: {parameter_count(model)} parameters, mean {config.image_mean} std "
        f"{config.image_std}; device {device}, {torch.get_num_threads()} threads; batch "
        f"{batch_size} x {options.crop_size}px, {options.hard_negative_share:.0%} hard negatives"
        f"{', batches prefetched' if prefetch else ''}; "
        f"held-out: {len(holdout)} tiles, evaluated through the {options.eval_path} path"
    )

    feeder = Prefetcher(pool, batch_size, generator) if prefetch else None

    def next_batch() -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
        if feeder is not None:
            return feeder.get(device)
        return make_batch(pool, batch_size, generator, device)

    def payload_now() -> dict[str, Any]:
        with feeder.lock if feeder is not None else nullcontext():
            random_states = _random_states(rng, generator)
        return {
            "config": config.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "random": random_states,
            "state": state,
            "mpp": TARGET_MPP,
            "options": {k: str(v) for k, v in vars(options).items()},
        }

    def save_last() -> None:
        tmp = last.with_suffix(".tmp")
        torch.save(payload_now(), tmp)
        tmp.replace(last)  # a kill while writing never leaves a broken last.pt

    def save_snapshot() -> None:
        """Weights only, for averaging the flat end of a run (`average`); never overwritten."""
        folder = out / "snap"
        folder.mkdir(exist_ok=True)
        meta = {
            "step": state["step"],
            "minutes": round(state["seconds"] / 60, 2),
            "mpp": TARGET_MPP,
        }
        save_checkpoint(folder / f"step-{state['step']:06d}.pt", model, config, meta)

    def write_history() -> dict[str, Any]:
        summary = {
            "device": str(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "steps": state["step"],
            "train_minutes": round(state["seconds"] / 60, 1),
            "seconds_per_step": round(float(np.mean(step_times)), 3) if step_times else None,
            "batch_size": batch_size,
            "crop_size": options.crop_size,
            "hard_negative_share": options.hard_negative_share,
            "eval_path": options.eval_path,
            "schedule": options.schedule,
            "seed": options.seed,
            "minutes": options.minutes,
            "parameters": parameter_count(model),
            "config": config.to_dict(),
            "split": split.describe(),
            "scale_estimates": scale_lines,
            "holdout_tiles": [t.key for t in holdout],
            "best": state["best"],
            "history": state["history"],
        }
        (out / "history.json").write_text(json.dumps(summary, indent=1))
        return summary

    def run_eval() -> None:
        t = time.monotonic()
        if options.eval_path == "torch":
            summary = evaluate(model, holdout, device)
        else:
            summary = evaluate_runtime(model, holdout, max(1, options.threads))
        entry = {
            "step": state["step"],
            "minutes": round(state["seconds"] / 60, 2),
            "loss": state.get("loss"),
            "holdout": summary,
        }
        state["history"].append(entry)
        best = state["best"]
        marker = ""
        if best is None or summary["macro"]["aji"] > best["holdout"]["macro"]["aji"]:
            state["best"] = entry
            meta = {"step": state["step"], "holdout": summary, "mpp": TARGET_MPP}
            save_checkpoint(out / "best.pt", model, config, meta)
            marker = " *best"
        log(
            f"eval step {state['step']} ({entry['minutes']} min, {time.monotonic() - t:.0f}s): "
            f"{format_summary(summary)}{marker}"
        )
        write_history()

    budget = options.minutes * 60.0

    def progress() -> float:
        if options.steps:
            return state["step"] / options.steps
        return state["seconds"] / budget

    window: list[float] = []
    step_times: list[float] = []
    session_start = time.monotonic()
    base_seconds = state["seconds"]
    last_ckpt = time.monotonic()
    snapshot_every = options.snapshot_every_s
    next_snapshot = (
        (math.floor(state["seconds"] / snapshot_every) + 1) * snapshot_every
        if snapshot_every
        else math.inf
    )
    next_eval = (math.floor(state["seconds"] / eval_every) + 1) * eval_every
    model.train()
    # `kill PID` (SIGTERM) stops like Ctrl+C: last.pt written first. Only in the main thread.
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm) if _main_thread() else None
    try:
        while progress() < 1.0:
            t = time.monotonic()
            lr = learning_rate(options.lr, progress(), options.schedule)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images, targets = next_batch()
            parts = model(images, targets)
            loss = sum(parts.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            optimizer.step()
            state["step"] += 1
            state["seconds"] = base_seconds + time.monotonic() - session_start
            window.append(float(loss.detach()))
            step_times.append(time.monotonic() - t)
            state["loss"] = round(float(np.mean(window[-100:])), 4)
            every = 100 if cuda else 10
            if state["step"] % every == 0:
                detail = " ".join(
                    f"{k.replace('loss_', '')}={float(v.detach()):.3f}" for k, v in parts.items()
                )
                log(
                    f"step {state['step']} {state['seconds'] / 60:.1f} min lr={lr:.2e} "
                    f"loss={state['loss']:.3f} ({detail}) "
                    f"{np.mean(step_times[-every:]):.2f}s/step"
                )
            if state["seconds"] >= next_eval:
                pause = time.monotonic()
                run_eval()
                next_eval += eval_every
                session_start += time.monotonic() - pause  # the budget counts training only
            if snapshot_every and state["seconds"] >= next_snapshot:
                pause = time.monotonic()
                save_snapshot()
                next_snapshot += snapshot_every
                session_start += time.monotonic() - pause
            if time.monotonic() - last_ckpt >= options.checkpoint_every_s:
                pause = time.monotonic()
                save_last()
                last_ckpt = time.monotonic()
                session_start += last_ckpt - pause
    except KeyboardInterrupt:
        save_last()
        write_history()
        log(f"interrupted at step {state['step']}; {last} written, resume with the same --out")
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if feeder is not None:
            feeder.close()
    if not state["history"] or state["history"][-1]["step"] != state["step"]:
        run_eval()
    save_last()
    return write_history()
