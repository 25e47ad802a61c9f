"""The training run on the shared nuclei corpus: wall-clock budget, resumable, held out by
organ/source, final weights exported to ONNX, verified, and written as a model folder.

WORK/last.pt is written every few minutes (model, optimiser, step, seconds trained, random
states, history); starting again with the same WORK resumes from it and the learning-rate
schedule follows the fraction of the total `minutes` trained so far, so an interrupted CPU
run continues where it stopped. Evaluation during training scores a fixed sample of
held-out nuclei per group; the shipped weights are the last ones (no selection on the
held-out split), and the release measures every held-out nucleus through the runtime.
"""

from __future__ import annotations

import json
import math
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from tilescope.training.corpus import load_corpus, split_corpus
from tilescope.training.nuclick import data, evaluate, export
from tilescope.training.nuclick.folder import write_model_folder
from tilescope.training.nuclick.network import ClickUNet, parameter_count
from tilescope.training.nuclick.sampler import DeviceSampler, SamplerConfig


@dataclass
class TrainConfig:
    data: Path
    out: Path
    work: Path | None = None  # checkpoints and log; default OUT/../<OUT name>-work
    seed: int = 0
    minutes: float = 4.0
    device: str = "auto"
    batch: int = 0  # 0: 96 on CUDA, 16 on CPU
    lr: float = 2e-3
    eval_every_s: float = 0.0  # 0: 60 s on CUDA, 480 s on CPU
    squiggle_fraction: float = 0.25
    patch: int = 128
    # Click patch written to the manifest: 64 px scored as well as 128 px on held-out tiles
    # through the runtime and runs 3x faster; objects cut by its border are rerun larger.
    inference_patch: int = 64
    base: int = 16
    threads: int = 0  # CPU threads for torch; 0 = torch's default
    objects: int = 12000  # training crops shared by group weight (memory ~190 kB each)
    eval_per_group: int = 150
    init_onnx: Path | None = None  # warm start from a tilescope NuClick ONNX file
    smoke: bool = False  # mark the model card as a smoke run
    checkpoint_every_s: float = 180.0


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available to torch here")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE + soft Dice per patch (Dice keeps small nuclei from drowning in background)."""
    logits = logits.float()
    bce = functional.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum(dim=(1, 2, 3))
    union = prob.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3))
    return bce + (1 - (2 * inter + 1) / (union + 1)).mean()


def lr_factor(progress: float, warmup: float = 0.05) -> float:
    """Linear warm-up over the first 5% of the budget, cosine decay to 2% after."""
    if progress < warmup:
        return max(progress / warmup, 0.02)
    p = min(1.0, (progress - warmup) / (1 - warmup))
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * p))


def log_to(path: Path) -> Any:
    def log(message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        with open(path, "a") as handle:
            handle.write(line + "\n")

    return log


def _macro(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        "mean_dice": float(np.mean([s["mean_dice"] for s in scores.values()])),
        "fraction_dice_0.7": float(np.mean([s["fraction_dice_0.7"] for s in scores.values()])),
        "nuclei": int(sum(s["nuclei"] for s in scores.values())),
    }


def train(cfg: TrainConfig) -> dict:
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cuda = device.type == "cuda"
    batch = cfg.batch or (96 if cuda else 16)
    eval_every_s = cfg.eval_every_s or (60.0 if cuda else 480.0)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    work = Path(cfg.work) if cfg.work else cfg.out.parent / f"{cfg.out.name}-work"
    work.mkdir(parents=True, exist_ok=True)
    log = log_to(work / "train.log")

    t0 = time.perf_counter()
    corpus, _sources, _estimates = load_corpus(cfg.data, data.MODEL_MPP, log)
    split = split_corpus(corpus)
    for line in split.describe():
        log(line)
    budget_per_tile = data.object_budget(split.train, cfg.objects)
    objects = data.build_objects(
        [data.from_corpus(t) for t in split.train], cfg.seed, budget_per_tile
    )
    sampler_cfg = SamplerConfig(patch=cfg.patch, squiggle_fraction=cfg.squiggle_fraction)
    sampler = DeviceSampler(objects, device, sampler_cfg)
    held = [data.from_corpus(t) for t in split.holdout]
    eval_click = evaluate.build_group_sets(
        held, cfg.patch, sampler_cfg.radius, "click", device, cfg.eval_per_group, cfg.seed
    )
    eval_squiggle = evaluate.build_group_sets(
        held, cfg.patch, sampler_cfg.radius, "squiggle", device, cfg.eval_per_group // 3, cfg.seed
    )
    groups: dict[str, int] = {}
    for source in objects.source:
        groups[source] = groups.get(source, 0) + 1
    log(
        f"data: {len(objects.rgb)} objects ({int(objects.is_cluster.sum())} merged groups) "
        f"from {len(split.train)} training tiles; evaluation sample "
        f"{ {g: len(s.targets) for g, s in eval_click.items()} }; "
        f"{time.perf_counter() - t0:.1f} s"
    )

    model = ClickUNet(base=cfg.base)
    if cfg.init_onnx is not None:
        from tilescope.training.nuclick.warm_start import load_onnx_weights

        diff = load_onnx_weights(model, Path(cfg.init_onnx))
        log(f"warm start from {cfg.init_onnx} (ORT vs torch {diff:.1e})")
    model = model.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    state: dict[str, Any] = {"step": 0, "seconds": 0.0, "history": []}
    last_path = work / "last.pt"
    if last_path.is_file():
        payload = torch.load(last_path, map_location="cpu", weights_only=False)
        model.load_state_dict(payload["model"])
        optimiser.load_state_dict(payload["optimiser"])
        gen.set_state(payload["generator"])
        state = payload["state"]
        log(f"resumed from {last_path}: step {state['step']}, {state['seconds'] / 60:.1f} min")
    log(
        f"model: {parameter_count(model):,} parameters; {device}, {torch.get_num_threads()} "
        f"threads; batch {batch} x {cfg.patch} px; budget {cfg.minutes} min"
    )

    def save() -> None:
        payload = {
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "generator": gen.get_state(),
            "state": state,
            "config": {k: str(v) for k, v in asdict(cfg).items()},
        }
        tmp = last_path.with_suffix(".tmp")
        torch.save(payload, tmp)
        tmp.replace(last_path)  # never a half-written checkpoint after an interruption

    losses: list[float] = []

    def run_eval() -> None:
        t = time.perf_counter()
        click = {g: evaluate.evaluate(model, s) for g, s in eval_click.items()}
        squiggle = {g: evaluate.evaluate(model, s) for g, s in eval_squiggle.items()}
        record = {
            "step": state["step"],
            "minutes": round(state["seconds"] / 60, 2),
            "loss": round(float(np.mean(losses[-50:])), 4) if losses else None,
            "click": _macro(click),
            "squiggle": _macro(squiggle),
            "groups": {g: round(v["mean_dice"], 4) for g, v in click.items()},
        }
        state["history"].append(record)
        per_group = " ".join(f"{g}={v:.3f}" for g, v in record["groups"].items())
        log(
            f"eval step {state['step']} ({record['minutes']} min, "
            f"{time.perf_counter() - t:.0f} s): click Dice {record['click']['mean_dice']:.3f} "
            f"[{per_group}] squiggle Dice {record['squiggle']['mean_dice']:.3f}"
        )

    budget = cfg.minutes * 60.0
    session_start = time.perf_counter()
    base_seconds = state["seconds"]
    last_checkpoint = time.perf_counter()
    next_eval = (math.floor(state["seconds"] / eval_every_s) + 1) * eval_every_s
    if state["step"] == 0:
        run_eval()  # the starting point (a warm start's score before any step)
    model.train()
    try:
        while state["seconds"] < budget:
            for group in optimiser.param_groups:
                group["lr"] = cfg.lr * lr_factor(state["seconds"] / budget)
            x, y = sampler.batch(batch, gen)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
                logits = model(x)
            loss = loss_fn(logits, y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            state["step"] += 1
            state["seconds"] = base_seconds + time.perf_counter() - session_start
            if state["step"] % 10 == 0:
                losses.append(float(loss.detach()))
            if state["step"] % 100 == 0:
                log(
                    f"step {state['step']} {state['seconds'] / 60:.1f} min "
                    f"loss {np.mean(losses[-10:]):.4f}"
                )
            if state["seconds"] >= next_eval:
                run_eval()
                model.train()
                next_eval += eval_every_s
            if time.perf_counter() - last_checkpoint >= cfg.checkpoint_every_s:
                save()
                last_checkpoint = time.perf_counter()
    except KeyboardInterrupt:
        save()
        log(f"interrupted at step {state['step']}; resume with the same --work")
        raise
    if not state["history"] or state["history"][-1]["step"] != state["step"]:
        run_eval()
    save()

    model = model.to("cpu").float().eval()
    cfg.out.mkdir(parents=True, exist_ok=True)
    onnx_path = cfg.out / "nuclick.onnx"
    export.export_onnx(model, onnx_path, cfg.patch)
    diff = export.verify_onnx(model, onnx_path, cfg.patch)
    log(f"ONNX export verified: max |ORT - torch| = {diff:.2e}")

    summary = {
        "command": " ".join(["python -m tilescope.training.nuclick", *sys.argv[1:]]),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "batch": batch,
        "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "steps": state["step"],
        "train_seconds": round(state["seconds"], 1),
        "parameters": parameter_count(model),
        "model_mpp": data.MODEL_MPP,
        "split": split.describe(),
        "objects": len(objects.rgb),
        "objects_per_group": groups,
        "merged_groups": int(objects.is_cluster.sum()),
        "warm_start": str(cfg.init_onnx) if cfg.init_onnx else None,
        "last": state["history"][-1],
        "history": state["history"],
        "onnx_max_abs_diff": diff,
    }
    (cfg.out / "training-log.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    write_model_folder(cfg.out, summary)
    log(f"last click Dice {summary['last']['click']['mean_dice']:.3f}; wrote {cfg.out}")
    return summary
