"""Training loop: wall-clock budget, resumable, held-out evaluation, best checkpoint by AJI.

OUT/last.pt is written every `checkpoint_every_s` (model, optimizer, step, seconds trained,
random states, history); starting again with the same OUT resumes from it, and the LR
schedule follows the fraction of the total `minutes` trained so far. OUT/best.pt is the
checkpoint with the best macro held-out AJI (mean over the held-out organs/sources).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from tilescope.plugins.hover.postprocess import PostprocessParams, instance_labels
from tilescope.training.corpus import load_corpus, split_corpus
from tilescope.training.corpus.augment import (
    blur_and_noise,
    brightness_contrast,
    flip_rotate,
    hed_jitter,
)
from tilescope.training.corpus.sampler import CropSampler, source_weights
from tilescope.training.corpus.scores import format_summary, score_tile, summarise
from tilescope.training.corpus.sources import MODEL_MPP, CorpusTile
from tilescope.training.corpus.split import group_of
from tilescope.training.hover.model import (
    HoverNet,
    ModelConfig,
    parameter_count,
    recalibrate_batchnorm,
    save_checkpoint,
)
from tilescope.training.hover.targets import hv_targets, losses


@dataclass
class TrainOptions:
    data: Path
    out: Path
    seed: int = 0
    minutes: float = 100.0
    device: str = "auto"
    batch_size: int = 8
    crop_size: int = 192
    lr: float = 2e-3
    widths: tuple[int, ...] = (12, 24, 48, 96, 128)
    eval_every_s: float = 480.0
    checkpoint_every_s: float = 180.0
    threads: int = 1
    calibration_batches: int = 16


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return torch.device(name)


def learning_rate(base: float, progress: float) -> float:
    warmup = 0.03
    if progress < warmup:
        return base * (0.1 + 0.9 * progress / warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))
    return base * (0.02 + 0.98 * cosine)


@torch.no_grad()
def predict_maps(
    model: HoverNet, image: np.ndarray, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """NP probability (H x W) and HV (2 x H x W) of a whole tile (reflect-padded)."""
    was_training = model.training
    model.eval()
    stride = model.config.stride
    h, w = image.shape[:2]
    margin = 16
    ph = (-(h + 2 * margin)) % stride
    pw = (-(w + 2 * margin)) % stride
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().div(255)
    x = functional.pad(x, (margin, margin + pw, margin, margin + ph), mode="reflect").to(device)
    np_logits, hv = model(x)
    model.train(was_training)
    prob = torch.sigmoid(np_logits)[0, 0, margin : margin + h, margin : margin + w]
    hv = hv[0, :, margin : margin + h, margin : margin + w].clamp(-1, 1)
    return prob.cpu().numpy(), hv.cpu().numpy()


def evaluate(
    model: HoverNet,
    tiles: list[CorpusTile],
    device: torch.device,
    params: PostprocessParams | None = None,
) -> dict[str, dict[str, float]]:
    scores = []
    for tile in tiles:
        prob, hv = predict_maps(model, tile.image, device)
        pred = instance_labels(prob, hv, params)
        scores.append(score_tile(group_of(tile), tile.name, tile.labels, pred))
    return summarise(scores)


def make_batch(
    sampler: CropSampler, batch_size: int, generator: torch.Generator, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images_np, labels_np = sampler.batch(batch_size)
    images = torch.from_numpy(images_np).permute(0, 3, 1, 2).float().div(255)
    labels = torch.from_numpy(labels_np)
    images, labels = flip_rotate(images, labels, generator)
    hv = hv_targets(labels)
    images = hed_jitter(images, generator)
    images = brightness_contrast(images, generator)
    images = blur_and_noise(images, generator)
    return images.to(device), labels.to(device), hv.to(device)


def _log_line(path: Path, text: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    line = f"[{stamp}] {text}"
    print(line, flush=True)
    with open(path, "a") as handle:
        handle.write(line + "\n")


def train(options: TrainOptions) -> dict[str, Any]:
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train.log"

    def log(text: str) -> None:
        _log_line(log_path, text)

    torch.set_num_threads(options.threads)
    device = pick_device(options.device)
    random.seed(options.seed)
    np.random.seed(options.seed)
    torch.manual_seed(options.seed)

    started = time.monotonic()
    tiles, _sources, _estimates = load_corpus(options.data, MODEL_MPP, log)
    split = split_corpus(tiles)
    for line in split.describe():
        log(line)
    log(f"source weights: {source_weights(split.train)}")
    log(f"corpus loaded in {time.monotonic() - started:.1f}s")

    config = ModelConfig(widths=tuple(options.widths))
    model = HoverNet(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=1e-4)
    rng = np.random.default_rng(options.seed)
    generator = torch.Generator()
    generator.manual_seed(options.seed)
    state: dict[str, Any] = {"step": 0, "seconds": 0.0, "history": [], "best": None}

    last = out / "last.pt"
    if last.is_file():
        payload = torch.load(last, map_location="cpu", weights_only=False)
        config = ModelConfig.from_dict(payload["config"])
        model = HoverNet(config).to(device)
        model.load_state_dict(payload["model"])
        optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=1e-4)
        optimizer.load_state_dict(payload["optimizer"])
        rng.bit_generator.state = payload["numpy_rng"]
        generator.set_state(payload["torch_rng"])
        state = payload["state"]
        log(f"resumed from {last}: step {state['step']}, {state['seconds'] / 60:.1f} min trained")
    sampler = CropSampler(split.train, options.crop_size, rng)
    log(
        f"model {list(config.widths)}: {parameter_count(model)} parameters; device {device}, "
        f"{torch.get_num_threads()} threads; batch {options.batch_size} x {options.crop_size}px"
    )

    def payload_now() -> dict[str, Any]:
        return {
            "config": config.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": generator.get_state(),
            "state": state,
            "mpp": MODEL_MPP,
            "options": {k: str(v) for k, v in vars(options).items()},
        }

    def run_eval() -> None:
        t = time.monotonic()
        calibration = [
            make_batch(sampler, options.batch_size, generator, device)[0]
            for _ in range(options.calibration_batches)
        ]
        recalibrate_batchnorm(model, calibration)
        summary = evaluate(model, split.holdout, device)
        entry = {
            "step": state["step"],
            "minutes": round(state["seconds"] / 60, 2),
            "holdout": summary,
        }
        state["history"].append(entry)
        best = state["best"]
        marker = ""
        if best is None or summary["macro"]["aji"] > best["holdout"]["macro"]["aji"]:
            state["best"] = entry
            save_checkpoint(out / "best.pt", payload_now())
            marker = " *best"
        log(
            f"eval step {state['step']} ({entry['minutes']} min, {time.monotonic() - t:.0f}s): "
            f"{format_summary(summary)}{marker}"
        )

    budget = options.minutes * 60.0
    window: list[float] = []
    step_times: list[float] = []
    session_start = time.monotonic()
    base_seconds = state["seconds"]
    last_ckpt = time.monotonic()
    next_eval = (math.floor(state["seconds"] / options.eval_every_s) + 1) * options.eval_every_s
    model.train()
    try:
        while state["seconds"] < budget:
            t = time.monotonic()
            lr = learning_rate(options.lr, state["seconds"] / budget)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images, labels, hv_target = make_batch(sampler, options.batch_size, generator, device)
            np_logits, hv = model(images)
            parts = losses(np_logits, hv, labels, hv_target)
            loss = sum(parts.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            state["step"] += 1
            state["seconds"] = base_seconds + time.monotonic() - session_start
            window.append(float(loss))
            step_times.append(time.monotonic() - t)
            if state["step"] % 100 == 0:
                detail = " ".join(f"{k}={float(v):.3f}" for k, v in parts.items())
                log(
                    f"step {state['step']} {state['seconds'] / 60:.1f} min lr={lr:.2e} "
                    f"loss={np.mean(window[-100:]):.3f} ({detail}) "
                    f"{np.mean(step_times[-100:]):.2f}s/step"
                )
            if state["seconds"] >= next_eval:
                run_eval()
                next_eval += options.eval_every_s
            if time.monotonic() - last_ckpt >= options.checkpoint_every_s:
                save_checkpoint(last, payload_now())
                last_ckpt = time.monotonic()
    except KeyboardInterrupt:
        log(f"interrupted at step {state['step']}; checkpoint written, resume with the same --out")
        save_checkpoint(last, payload_now())
        raise
    if not state["history"] or state["history"][-1]["step"] != state["step"]:
        run_eval()
    save_checkpoint(last, payload_now())
    summary = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "steps": state["step"],
        "train_minutes": round(state["seconds"] / 60, 1),
        "batch_size": options.batch_size,
        "crop_size": options.crop_size,
        "parameters": parameter_count(model),
        "config": config.to_dict(),
        "best": state["best"],
        "history": state["history"],
    }
    (out / "history.json").write_text(json.dumps(summary, indent=1))
    return summary
