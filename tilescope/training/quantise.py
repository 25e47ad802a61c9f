"""int8 weights for the CPU: static QDQ quantisation calibrated on corpus training tiles.

A convolutional network's float weights run 1.5-2x slower on a CPU than int8 weights with
VNNI-style dot products, and the held-out figures barely move (measured per model, written
into its card). The int8 file goes beside the float one and the manifest names it as
`cpu_onnx`; the runtime uses it only when a session runs on the CPU provider (and the
`cpu_int8_weights` setting is on), so GPU users keep the float graph.

Calibration reads training tiles only (never the held-out split): activation ranges are
fitted to data, so calibrating on the held-out tiles would be model selection on them.

    python -m tilescope.training.quantise --model FOLDER --data ../shared/data/nuclei
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tilescope.engine.settings import KEYS_BY_NAME
from tilescope.plugins.manifest import file_sha256, load_manifest, write_manifest
from tilescope.training.corpus.sources import MODEL_MPP, CorpusTile, load_corpus
from tilescope.training.corpus.split import group_of, split_corpus

#: Calibration inputs: this many per model, drawn round-robin over the training groups.
CALIBRATION_INPUTS = 48
Feed = dict[str, np.ndarray]
INT8_SETTING = KEYS_BY_NAME["cpu_int8_weights"].env
CARD_START = "<!-- int8-weights -->"
CARD_END = "<!-- /int8-weights -->"
COMPARISON_NAME = "int8-comparison.json"


def training_tiles(data: Path) -> list[CorpusTile]:
    tiles, _, _ = load_corpus(data, MODEL_MPP, log=lambda _line: None)
    return split_corpus(tiles).train


def round_robin(tiles: list[CorpusTile], seed: int = 0) -> Iterator[CorpusTile]:
    """Tiles alternating over the groups, so that no source dominates the ranges."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[CorpusTile]] = {}
    for tile in tiles:
        groups.setdefault(group_of(tile), []).append(tile)
    while True:
        for name in sorted(groups):
            members = groups[name]
            yield members[int(rng.integers(len(members)))]


def image_feeds(tiles: list[CorpusTile], input_name: str, size: int = 256) -> list[Feed]:
    """Random `size` crops scaled to 0..1, N x 3 x H x W (the `scale` normalisation)."""
    rng = np.random.default_rng(1)
    feeds = []
    for tile, _ in zip(round_robin(tiles), range(CALIBRATION_INPUTS), strict=False):
        h, w = tile.image.shape[:2]
        if h < size or w < size:
            continue
        y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        crop = tile.image[y : y + size, x : x + size].transpose(2, 0, 1)
        feeds.append({input_name: crop[None].astype(np.float32) / 255.0})
    return feeds


def click_feeds(tiles: list[CorpusTile], input_name: str, patch: int) -> list[Feed]:
    """Click patches on training nuclei (image, inclusion, exclusion planes), batches of 8."""
    import torch

    from tilescope.training.nuclick.data import from_corpus
    from tilescope.training.nuclick.evaluate import build_eval_set
    from tilescope.training.nuclick.sampler import SamplerConfig

    rng = np.random.default_rng(2)
    feeds = []
    for tile, _ in zip(round_robin(tiles), range(CALIBRATION_INPUTS), strict=False):
        ids = np.unique(tile.labels)
        ids = ids[ids > 0]
        if not len(ids):
            continue
        chosen = {int(i) for i in rng.choice(ids, min(8, len(ids)), replace=False)}
        batch = build_eval_set(
            from_corpus(tile), patch, SamplerConfig().radius, "click", torch.device("cpu"), chosen
        )
        feeds.append({input_name: batch.inputs.numpy()})
    return feeds


def quantise(source: Path, target: Path, feeds: list[Feed]) -> None:
    """Static QDQ int8 (per-channel weights, uint8 activations, min-max ranges)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter(feeds)

        def get_next(self) -> Feed | None:
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        # Symbolic shape inference is for transformer graphs; it fails on dynamic H/W here.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )


def graph_input(path: Path) -> Any:
    """The first input (name, shape) the ONNX graph declares."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0]


def add_cpu_weights(folder: Path, data: Path, log: Callable[[str], None] = print) -> int:
    """Write `<stem>.int8.onnx` into a model folder and name it in the manifest; returns the
    number of calibration inputs used."""
    manifest = load_manifest(folder)
    source = manifest.onnx_path
    target = source.with_name(source.stem + ".int8.onnx")
    input_name = graph_input(source).name
    tiles = training_tiles(data)
    if manifest.prompted:
        feeds = click_feeds(tiles, input_name, manifest.input.patch_size[0])
    else:
        feeds = image_feeds(tiles, input_name)
    log(f"calibrating on {len(feeds)} inputs from {len(tiles)} training tiles")
    quantise(source, target, feeds)
    path = write_manifest(
        replace(manifest, cpu_onnx=target.name, cpu_sha256=file_sha256(target)), folder
    )
    load_manifest(folder)  # the result must read back
    log(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB) and named it in {path}")
    return len(feeds)


def session_ms(path: Path, feed: Feed, repeats: int = 15) -> float:
    """Median milliseconds of one `session.run` on one thread (after a warm-up run)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    session.run(None, feed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def compare(folder: Path, data: Path) -> dict[str, Any]:
    """Held-out figures through the runtime and one-thread speed, float against int8."""
    from tilescope.plugins.catalog import load_model
    from tilescope.training.corpus.runtime_eval import (
        evaluate_clicks,
        evaluate_instances,
        holdout_tiles,
    )

    manifest = load_manifest(folder)
    held_out = holdout_tiles(data)
    out: dict[str, Any] = {"cpu": cpu_name()}
    for name, int8 in (("float", False), ("int8", True)):
        os.environ[INT8_SETTING] = "true" if int8 else "false"
        try:
            model = load_model(folder, device="cpu", threads=1)
            if manifest.prompted:
                out[name] = evaluate_clicks(model, held_out)
            else:
                out[name] = evaluate_instances(model, held_out)[0]
        finally:
            os.environ.pop(INT8_SETTING, None)
    side = manifest.input.patch_size[0]
    rng = np.random.default_rng(3)
    channels = 5 if manifest.prompted else 3
    declared = graph_input(manifest.onnx_path)
    input_name = declared.name
    fixed = declared.shape[0] if isinstance(declared.shape[0], int) else None
    batch = fixed or (1 if manifest.prompted else manifest.input.batch_size)
    feed = {input_name: rng.random((batch, channels, side, side), dtype=np.float32)}
    cpu_path = manifest.cpu_onnx_path
    assert cpu_path is not None
    runs = [session_ms(p, feed) for p in (manifest.onnx_path, cpu_path, manifest.onnx_path)]
    out["speed"] = {
        "input": f"{batch} x {channels} x {side} x {side}",
        "float_ms": round(min(runs[0], runs[2]), 2),
        "int8_ms": round(runs[1], 2),
    }
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def card_section(comparison: dict[str, Any], command: str) -> str:
    """The model card's section on the int8 weights, from `compare`'s measurements."""
    speed = comparison["speed"]
    clicks = "mean_dice" in next(iter(comparison["float"].values()))
    lines = [
        CARD_START,
        "## int8 weights for the CPU",
        "",
        "The folder also ships int8 weights: static QDQ quantisation, per-channel int8 weights,",
        "uint8 activations with min-max ranges calibrated on "
        f"{comparison['calibration_inputs']} inputs from training tiles only.",
        "tilescope runs them whenever the model runs on the CPU; GPUs run the float weights.",
        "The setting `cpu_int8_weights: false` (or the environment variable",
        f"`{INT8_SETTING}=false`) runs the float weights on the CPU too.",
        f"Made with `{command}`.",
        "",
        "Both measured through the runtime on the same held-out split:",
        "",
    ]
    if clicks:
        lines += ["| group | float Dice | int8 Dice |", "|---|---:|---:|"]
        for group, v in comparison["float"].items():
            w = comparison["int8"][group]
            lines.append(f"| {group} | {v['mean_dice']:.4f} | {w['mean_dice']:.4f} |")
    else:
        lines += ["| group | float F1 / AJI / PQ | int8 F1 / AJI / PQ |", "|---|---:|---:|"]
        for group, v in comparison["float"].items():
            w = comparison["int8"][group]
            lines.append(
                f"| {group} | {v['f1']:.3f} / {v['aji']:.3f} / {v['pq']:.3f} | "
                f"{w['f1']:.3f} / {w['aji']:.3f} / {w['pq']:.3f} |"
            )
    lines += [
        "",
        f"Speed, one `session.run` on a {speed['input']} input, one thread, {comparison['cpu']}:",
        f"float {speed['float_ms']:.1f} ms, int8 {speed['int8_ms']:.1f} ms "
        f"({speed['float_ms'] / speed['int8_ms']:.2f}x faster).",
        "CPUs without 8-bit dot-product instructions (VNNI) gain less.",
        CARD_END,
    ]
    return "\n".join(lines) + "\n"


def write_card_section(folder: Path, section: str) -> None:
    """Put `section` into the folder's README.md, replacing an earlier one."""
    card = folder / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    if CARD_START in text and CARD_END in text:
        head, rest = text.split(CARD_START, 1)
        text = head + section + rest.split(CARD_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    card.write_text(text, encoding="utf-8")


def refresh_int8(folder: Path, data: Path, make: bool = True) -> None:
    """The release commands' last step: int8 weights made from the float weights just
    written (or, with `make` false, none), never ones left from the weights they replaced."""
    drop_int8(folder)
    if make:
        ship_int8(folder, data)


def ship_int8(folder: Path, data: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Add int8 CPU weights to a model folder, measured against its float weights."""
    inputs = add_cpu_weights(folder, data, log)
    comparison = compare(folder, data) | {"calibration_inputs": inputs}
    (folder / COMPARISON_NAME).write_text(json.dumps(comparison, indent=1), "utf-8")
    write_card_section(folder, card_section(comparison, _command(folder, data)))
    log(f"int8 against float on the held-out split: {json.dumps(comparison)}")
    return comparison


def drop_int8(folder: Path) -> None:
    """Remove int8 weights a re-released folder no longer names (they were made from the
    float weights it replaced)."""
    for path in (*folder.glob("*.int8.onnx"), folder / COMPARISON_NAME):
        path.unlink(missing_ok=True)


def _command(folder: Path, data: Path) -> str:
    return f"python -m tilescope.training.quantise --model {folder} --data {data}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tilescope.training.quantise")
    parser.add_argument("--model", required=True, help="model folder (manifest and card updated)")
    parser.add_argument("--data", required=True, help="the nuclei folder (../shared/data/nuclei)")
    parser.add_argument(
        "--card-only", action="store_true", help="rewrite the card section from the saved JSON"
    )
    args = parser.parse_args(argv)
    folder, data = Path(args.model), Path(args.data)
    if not args.card_only:
        ship_int8(folder, data)
        return 0
    comparison = json.loads((folder / COMPARISON_NAME).read_text(encoding="utf-8"))
    write_card_section(folder, card_section(comparison, _command(folder, data)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
