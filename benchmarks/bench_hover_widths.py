"""Inference cost of candidate `nuclei-he` widths and depths, side by side (needs torch).

Accuracy needs a training run per candidate; this measures the other half of the choice
(issue 13: width/depth chosen by accuracy and Mpx/s together) without one: each candidate
network, with untrained weights, is exported to ONNX like the shipped model and timed
with one ONNX Runtime thread on the same 2 x 3 x 640 x 640 batch the runtime feeds, best
of `--repeat`, candidates interleaved so that load changes hit all of them alike. The
post-processing is left out (it depends on the maps, not on the network's size).

    .venv/bin/python -m benchmarks hover_widths [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

CANDIDATES: dict[str, dict] = {
    "shipped": {},
    "x1.33 wide": {"widths": (16, 32, 64, 128, 160)},
    "x1.5 wide": {"widths": (18, 36, 72, 144, 192)},
    "x2 wide": {"widths": (24, 48, 96, 192, 256)},
    "3 convs per level": {"convs_per_level": 3},
}


def main() -> None:
    import numpy as np
    import onnxruntime as ort
    import torch

    from tilescope.training.hover.model import ExportWrapper, HoverNet, ModelConfig
    from tilescope.training.hover.model import parameter_count as count

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    batch = np.random.default_rng(0).random((2, 3, 640, 640), dtype=np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    sessions: dict[str, tuple] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in CANDIDATES.items():
            config = ModelConfig(**overrides)
            network = ExportWrapper(HoverNet(config)).eval()
            path = Path(tmp) / f"{len(sessions)}.onnx"
            torch.onnx.export(
                network,
                (torch.rand(1, 3, 256, 256),),
                str(path),
                input_names=["image"],
                output_names=["maps"],
                dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "maps": {0: "n", 2: "h", 3: "w"}},
                opset_version=17,
                dynamo=False,
            )
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            session.run(None, {"image": batch})  # warm-up
            sessions[name] = (session, count(network), config)
        best = {name: float("inf") for name in sessions}
        for _ in range(args.repeat):
            for name, (session, _, _) in sessions.items():
                start = time.perf_counter()
                session.run(None, {"image": batch})
                best[name] = min(best[name], time.perf_counter() - start)
    shipped = best["shipped"]
    mpx = batch.shape[0] * batch.shape[2] * batch.shape[3] / 1e6
    print("ONNX Runtime CPU, 1 thread, session.run on 2 x 3 x 640 x 640, untrained weights")
    print(f"{'candidate':20s} {'widths':24s} convs  params  run ms  Mpx/s  time vs shipped")
    for name, (_, params, config) in sessions.items():
        t = best[name]
        print(
            f"{name:20s} {config.widths!s:24s} {config.convs_per_level:5d} "
            f"{params / 1e6:6.2f}M {t * 1000:7.0f} {mpx / t:6.2f} {t / shipped:8.2f}x"
        )


if __name__ == "__main__":
    main()
