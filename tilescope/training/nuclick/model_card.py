"""The model card (README.md of the model folder), written from the training summary."""

from __future__ import annotations


def _history_table(history: list[dict]) -> str:
    rows = ["| step | minutes | loss | click Dice | click Dice >= 0.7 | squiggle Dice |"]
    rows.append("|---:|---:|---:|---:|---:|---:|")
    for h in history:
        rows.append(
            f"| {h['step']} | {h['minutes']} | {h['loss']} | {h['click']['mean_dice']:.3f} | "
            f"{h['click']['fraction_dice_0.7']:.2f} | {h['squiggle']['mean_dice']:.3f} |"
        )
    return "\n".join(rows)


def model_card(summary: dict, smoke: bool) -> str:
    best = summary["best"]
    last = summary["history"][-1]
    warning = (
        "\n> **Smoke-run model.** These weights come from a short CPU run that proves the "
        "pipeline end to end; they are NOT the trained model. Replace them with the output of "
        "the GPU run (command below).\n"
        if smoke
        else ""
    )
    return f"""# NuClick (tilescope, nuclei at 20x)
{warning}
Interactive segmentation: click inside a nucleus and get its outline; draw a squiggle inside
an elongated object (or across a group of touching nuclei) and get the object's outline.
Method after Koohbanani, Jahanifar, Tajadin & Rajpoot, *NuClick* (Medical Image Analysis 65,
2020): the network sees an RGB patch plus an inclusion map (the click / squiggle) and an
exclusion map (clicks on the neighbouring nuclei). Architecture, training code and weights
are tilescope's own.

## Input and output
- Input `input` float32 N x 5 x H x W, H and W multiples of 32: trained on
  {summary["config"]["patch"]} px patches; at inference a click gets a
  {summary["config"].get("inference_patch", summary["config"]["patch"])} px patch (an object cut
  by its border is run again in a patch twice as large), a squiggle a patch that holds it.
  Channels: RGB / 255, inclusion map (disk of radius 2 px at the click, or the squiggle 3 px
  wide), exclusion map (disks of radius 2 px at the other clicks).
- Output `logits` float32 N x 1 x H x W; sigmoid > 0.5 is the object.
- Resolution: **{summary["model_mpp"]} um/px** (about 20x). Slides at other resolutions are
  read from the matching pyramid level and resampled; slides without mpp at native pixels.

## Network
A 5-level U-Net (16 base channels, GroupNorm, {summary["parameters"]:,} parameters), RGB
centring inside the graph. ONNX opset 17, dynamic batch and patch size; ONNX Runtime matches
PyTorch to {summary["onnx_max_abs_diff"]:.1e}.

## Data
All tiles brought to {summary["model_mpp"]} um/px (40x tiles downscaled by 2: area average
for RGB, majority vote per 2 x 2 block for labels).
- Training: {", ".join(summary["train_tiles"])} (MICCAI 2015 segmentation challenge image01,
  20x, 351 nuclei; CryoNuSeg frozen-section tile, 40x, 59 outlined nuclei: partial labels,
  so only outlined nuclei are sampled). {summary["objects"]} training objects, of which
  {summary["merged_groups"]} are merged groups of 2-4 touching nuclei (squiggle training).
- Held out: **{summary["heldout_tile"]}** (MICCAI 2015 image08, 40x -> 20x, 251 nuclei):
  fully labelled, from a different slide than image01, so it scores generalisation with
  the most nuclei available.
- Not used: nuclick_demo (CC BY-NC-SA; test use only).

## Training
`{summary["command"]}`
- Clicks: a random inside pixel within half the equivalent radius of the centroid,
  sub-pixel jitter; the patch is centred on the click as at inference.
- Squiggles ({summary["config"]["squiggle_fraction"]:.0%} of samples, same network): full or
  partial skeletons (`skimage.morphology.skeletonize`) of single nuclei, and polylines
  through the centres of merged groups of touching nuclei (target: the whole group).
- Exclusion: a random subset of the neighbours' centroids, jittered by up to 1.5 px.
- Augmentation: flips, rot90, scale 0.8-1.25, HED stain jitter in optical density
  (+-15% scale, +-0.04 bias), brightness +-0.08, contrast 0.8-1.2.
- Loss BCE + soft Dice; AdamW, lr {summary["config"]["lr"]}, 5% warm-up then cosine decay
  over the wall-clock budget; seed {summary["config"]["seed"]}; batch {summary["batch"]}.
- Device: {summary["device"]}, torch {summary["torch"]}; {summary["steps"]} steps in
  {summary["train_seconds"]:.0f} s.

## Measured accuracy (held-out {summary["heldout_tile"]}, one click at each nucleus centroid)
Best checkpoint (step {best["step"]}): mean Dice per nucleus **{best["mean_dice"]:.3f}**,
fraction with Dice >= 0.7 **{best["fraction_dice_0.7"]:.2f}** ({best["nuclei"]} nuclei).
Squiggle mode (each nucleus's skeleton as the squiggle): mean Dice
{best["squiggle"]["mean_dice"]:.3f}.

The checkpoint is chosen on this same tile, so its score is optimistic; the last evaluation
(step {last["step"]}, not selected) scored {last["click"]["mean_dice"]:.3f}
(>= 0.7: {last["click"]["fraction_dice_0.7"]:.2f}). When the held-out score peaks early and
then falls while the training loss keeps falling, the network is fitting the look of the
two training tiles: more data, not more steps, is what would help.

{_history_table(summary["history"])}

## Limits
Trained on two H&E tiles (410 nuclei) only: expect lower accuracy on other stains, tissues and
scanners. Squiggle mode has seen nuclei and groups of nuclei, never glands or other large
structures; outlines of such objects are a guess beyond its training.

## Licence
Apache-2.0 (tilescope developers). Training data: MICCAI 2015 challenge tiles and CryoNuSeg
(research use); see the data manifest of the training run.
"""
