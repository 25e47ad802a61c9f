"""The model card (README.md of the model folder), written from the training summary and,
once measured, the runtime figures on the whole held-out split (never typed in by hand)."""

from __future__ import annotations

from typing import Any

from tilescope.training.corpus.split import HOLDOUT_ORGANS, HOLDOUT_SOURCES


def _history_table(history: list[dict]) -> str:
    groups = sorted(history[-1].get("groups", {}))
    head = " | ".join(groups)
    rows = [f"| step | minutes | loss | click Dice | Dice >= 0.7 | squiggle Dice | {head} |"]
    rows.append("|" + "---:|" * (6 + len(groups)))
    for h in history:
        per_group = " | ".join(f"{h.get('groups', {}).get(g, float('nan')):.3f}" for g in groups)
        loss = "-" if h["loss"] is None else f"{h['loss']:.4f}"
        rows.append(
            f"| {h['step']} | {h['minutes']} | {loss} | {h['click']['mean_dice']:.3f} | "
            f"{h['click']['fraction_dice_0.7']:.2f} | {h['squiggle']['mean_dice']:.3f} | "
            f"{per_group} |"
        )
    return "\n".join(rows)


def _runtime_section(runtime: dict[str, Any] | None, patch: int) -> str:
    if not runtime:
        return (
            "## Accuracy on unseen organs and sources\nNot measured yet: run "
            "`python -m tilescope.training.corpus.runtime_eval --model FOLDER --clicks`.\n"
        )
    clicks = runtime["clicks"]
    rows = ["| group | nuclei | mean Dice | Dice >= 0.7 |", "|---|---:|---:|---:|"]
    for group, v in clicks.items():
        name = f"**{group}**" if group == "macro" else group
        rows.append(
            f"| {name} | {v['nuclei']} | {v['mean_dice']:.3f} | {v['share_dice_0.7']:.2f} |"
        )
    table = "\n".join(rows)
    return f"""## Accuracy on unseen organs and sources (the held-out split, every nucleus)
One click at the inside pixel nearest each true nucleus' centroid, the tile's other clicks in
the exclusion map (as the GUI does), measured through tilescope's runtime (ONNX Runtime on
CPU, {patch} px click patches, the plugin's post-processing, polygons rasterised):
`python -m tilescope.training.corpus.runtime_eval --model nuclick --clicks`. "macro" is the
mean of the groups. The shipped weights are the last of the run: no checkpoint was chosen on
this split.

{table}
"""


def _patch_note(summary: dict) -> str:
    note = summary.get("inference_patch_note")
    return f"\n  Click patch: {note}" if note else ""


def model_card(summary: dict, smoke: bool, runtime: dict[str, Any] | None = None) -> str:
    last = summary["last"]
    warning = (
        "\n> **Smoke-run model.** These weights come from a short run that proves the "
        "pipeline end to end; they are NOT the trained model.\n"
        if smoke
        else ""
    )
    split = "\n".join(f"  - {line}" for line in summary["split"])
    held = ", ".join(f"MoNuSeg {o}" for o in HOLDOUT_ORGANS) + ", " + ", ".join(HOLDOUT_SOURCES)
    warm = summary.get("warm_start")
    warm_text = (
        f"- Warm start: the weights of the previous tilescope NuClick (`{warm}`), trained on "
        "MICCAI 2015 image01 and a CryoNuSeg thyroid tile, neither in the held-out split.\n"
        if warm
        else ""
    )
    per_group = ", ".join(f"{g} {n}" for g, n in sorted(summary["objects_per_group"].items()))
    return f"""# NuClick (tilescope, nuclei at 20x)
{warning}
Interactive segmentation: click inside a nucleus and get its outline; draw a squiggle inside
an elongated object (or across a group of touching nuclei) and get the object's outline.
Method after Koohbanani, Jahanifar, Tajadin & Rajpoot, *NuClick* (Medical Image Analysis 65,
2020): the network sees an RGB patch plus an inclusion map (the click / squiggle) and an
exclusion map (clicks on the neighbouring nuclei). Architecture, training code and weights
are tilescope's own.

**Licence: CC BY-NC-SA 4.0 (non-commercial).** The training data include the MoNuSeg 2018
training tiles (CC BY-NC-SA 4.0), so these weights are for research and other
non-commercial use, and adaptations must be shared alike (see LICENSE).

## Input and output
- Input `input` float32 N x 5 x H x W, H and W multiples of 32: trained on
  {summary["config"]["patch"]} px patches; at inference a click gets a
  {summary["config"]["inference_patch"]} px patch (an object cut by its border is run again
  in a patch twice as large), a squiggle a patch that holds it. Channels: RGB / 255,
  inclusion map (disk of radius 2 px at the click, or the squiggle 3 px wide), exclusion map
  (disks of radius 2 px at the other clicks).{_patch_note(summary)}
- Output `logits` float32 N x 1 x H x W; sigmoid > 0.5 is the object.
- Resolution: **{summary["model_mpp"]} um/px** (about 20x). Slides at other resolutions are
  read from the matching pyramid level and resampled; slides without mpp at native pixels.

## Network
A 5-level U-Net (16 base channels, GroupNorm, {summary["parameters"]:,} parameters), RGB
centring inside the graph. ONNX opset 17, dynamic batch and patch size; ONNX Runtime matches
PyTorch to {summary["onnx_max_abs_diff"]:.1e} (relative to 1 + |logit|).

## Data (tilescope.training.corpus, ../shared/data/nuclei)
Every source brought to {summary["model_mpp"]} um/px; sources of unknown scale (GBM40,
LGG, DSB 2018) estimated from their median nucleus diameter against the known-scale tiles
(written to the training log). Split by organ/source, never a tile of a training slide on
both sides:
{split}
- Held out whole: {held}.
- Training crops: {summary["objects"]} objects ({summary["merged_groups"]} merged groups of
  2-4 touching nuclei for squiggle training), shared between sampling groups by the square
  root of their area: {per_group}.
- Not used: CryoNuSeg (partial labels), nuclick_demo (test only).
- Licences: MoNuSeg 2018 CC BY-NC-SA 4.0; MICCAI 2015 CPM-15 and GBM40/LGG Emory without a
  stated licence (research use); DSB 2018 stage 1 CC0.

## Training
`{summary["command"]}`
{warm_text}- Clicks: a random inside pixel within half the equivalent radius of the centroid,
  sub-pixel jitter; the patch is centred on the click as at inference.
- Squiggles ({summary["config"]["squiggle_fraction"]:.0%} of samples, same network): full or
  partial skeletons of single nuclei, and polylines through the centres of merged groups of
  touching nuclei (target: the whole group).
- Exclusion: a random subset of the neighbours' centroids, jittered by up to 1.5 px.
- Augmentation: flips, rot90, scale 0.8-1.25, HED stain jitter in optical density
  (+-15% scale, +-0.04 bias), brightness +-0.08, contrast 0.8-1.2.
- Loss BCE + soft Dice; AdamW, lr {summary["config"]["lr"]}, 5% warm-up then cosine decay
  over the wall-clock budget; seed {summary["config"]["seed"]}; batch {summary["batch"]}.
- Hardware: {summary["device"]}, {summary["threads"]} thread(s), torch {summary["torch"]};
  {summary["steps"]} steps in {summary["train_seconds"] / 60:.0f} min. The run is resumable
  (WORK/last.pt every 3 min; the same command continues it); on a GPU it is just faster.

{_runtime_section(runtime, summary["config"]["inference_patch"])}
## During training (a fixed sample of held-out nuclei per group)
Last evaluation (step {last["step"]}): click Dice {last["click"]["mean_dice"]:.3f}, squiggle
Dice (each nucleus's skeleton as the squiggle) {last["squiggle"]["mean_dice"]:.3f}.

{_history_table(summary["history"])}

## Known failure modes
- Pale, out-of-focus or heavily overlapping nuclei: the outline can leak into a neighbour
  when no exclusion click marks it (Shift+click the neighbour).
- Squiggle mode has seen nuclei and groups of nuclei, never glands or other large
  structures; outlines of such objects are a guess beyond its training.
- Other stains (IHC, special stains) and fluorescence are outside its training data.
"""
