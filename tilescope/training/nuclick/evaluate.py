"""Held-out evaluation: one click per ground-truth nucleus, Dice per nucleus.

The click goes to the nucleus centroid (the nearest inside pixel when the centroid lies
outside), the exclusion map holds the other nuclei's clicks in the patch, exactly as a
user who clicks every nucleus would produce. Post-processing mirrors the runtime
(`tilescope.plugins.nuclick.postprocess`): threshold, keep the components under the
inclusion signal, fill holes. Squiggle mode is scored the same way with each nucleus's
skeleton as the squiggle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

from tilescope.engine.inference.metrics import dice
from tilescope.training.nuclick.data import WHITE, Tile, object_centres


@dataclass
class EvalSet:
    inputs: torch.Tensor  # N x 5 x P x P
    targets: np.ndarray  # N x P x P bool
    mode: str


def _disk_map(points_xy: np.ndarray, size: int, radius: float) -> np.ndarray:
    centres = np.arange(size) + 0.5
    out = np.zeros((size, size), dtype=bool)
    for x, y in points_xy:
        out |= ((centres[None, :] - x) ** 2 + (centres[:, None] - y) ** 2) <= radius**2 + 1e-6
    return out


def build_eval_set(
    tile: Tile,
    patch: int,
    radius: float,
    mode: str = "click",
    device: str | torch.device = "cpu",
    chosen: set[int] | None = None,
) -> EvalSet:
    """Patches centred on each labelled nucleus of `tile` (or the `chosen` labels only)."""
    half = patch // 2
    rgb = np.pad(tile.rgb, ((half, half), (half, half), (0, 0)), constant_values=WHITE)
    labels = np.pad(tile.labels, half)
    centres = object_centres(tile.labels)
    ids = sorted(centres)
    pts = np.array([centres[i] for i in ids], dtype=np.float64)  # (row, col), unpadded
    inputs, targets = [], []
    for k, index in enumerate(ids):
        if chosen is not None and index not in chosen:
            continue
        r, c = centres[index]
        window = (slice(r, r + patch), slice(c, c + patch))  # padded frame: click at centre
        target = labels[window] == index
        if mode == "click":
            inclusion = _disk_map(np.array([[half + 0.5, half + 0.5]]), patch, radius)
        else:
            inclusion = ndi.binary_dilation(skeletonize(target), np.ones((3, 3), bool))
        rel = pts - np.array([r, c]) + half
        inside = (rel >= 0).all(axis=1) & (rel < patch).all(axis=1)
        inside[k] = False
        exclusion = _disk_map(rel[inside][:, ::-1] + 0.5, patch, radius)
        planes = np.concatenate(
            [
                rgb[window].transpose(2, 0, 1).astype(np.float32) / 255.0,
                inclusion[None].astype(np.float32),
                exclusion[None].astype(np.float32),
            ]
        )
        inputs.append(planes)
        targets.append(target)
    tensor = torch.from_numpy(np.stack(inputs)).to(device)
    return EvalSet(tensor, np.stack(targets), mode)


def build_group_sets(
    tiles: list[Tile],
    patch: int,
    radius: float,
    mode: str,
    device: torch.device,
    per_group: int,
    seed: int = 0,
) -> dict[str, EvalSet]:
    """One evaluation set per group of `per_group` nuclei drawn at random (fixed seed).

    The full held-out split (6,500 nuclei) costs minutes per evaluation on a CPU; a fixed
    sample per group tracks training, and the release measures every nucleus through the
    runtime (`tilescope.training.corpus.runtime_eval --clicks`).
    """
    rng = np.random.default_rng(seed)
    sets: dict[str, EvalSet] = {}
    for group in sorted({t.group for t in tiles}):
        members = [t for t in tiles if t.group == group]
        pool = [(i, label) for i, t in enumerate(members) for label in object_centres(t.labels)]
        take = rng.choice(len(pool), min(per_group, len(pool)), replace=False)
        parts = []
        for i, tile in enumerate(members):
            labels = [pool[k][1] for k in take if pool[k][0] == i]
            if labels:
                parts.append(build_eval_set(tile, patch, radius, mode, device, set(labels)))
        sets[group] = EvalSet(
            torch.cat([p.inputs for p in parts]), np.concatenate([p.targets for p in parts]), mode
        )
    return sets


def select_components(mask: np.ndarray, inclusion: np.ndarray) -> np.ndarray:
    """Components of `mask` touching the inclusion signal, holes filled."""
    labelled, _ = ndi.label(mask)
    touched = np.unique(labelled[inclusion & mask])
    chosen = np.isin(labelled, touched[touched > 0])
    return ndi.binary_fill_holes(chosen)


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: EvalSet, threshold: float = 0.5) -> dict[str, float]:
    """Mean Dice per nucleus and the fraction with Dice >= 0.7."""
    was_training = model.training
    model.eval()
    scores = []
    for start in range(0, len(data.inputs), 64):
        batch = data.inputs[start : start + 64]
        prob = torch.sigmoid(model(batch).float())[:, 0].cpu().numpy()
        inclusion = batch[:, 3].cpu().numpy() > 0
        for k in range(len(prob)):
            mask = select_components(prob[k] > threshold, inclusion[k])
            scores.append(dice(mask, data.targets[start + k]))
    model.train(was_training)
    values = np.array(scores)
    return {
        "mean_dice": float(values.mean()),
        "fraction_dice_0.7": float((values >= 0.7).mean()),
        "nuclei": len(values),
    }
