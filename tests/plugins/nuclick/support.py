"""Shared pieces of the NuClick tests: an in-memory slide and tiny real ONNX models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from tilescope.engine.slide import Level, SlideMetadata, SlideSource, TileCache


class ArraySlide(SlideSource):
    """A one-level slide held in a numpy array (a real SlideSource: tiles, cache, resampling)."""

    backend_name = "memory"

    def __init__(self, pixels: np.ndarray, mpp: float | None) -> None:
        super().__init__(Path("in-memory.png"), cache=TileCache(64 * 1024 * 1024))
        self.pixels = pixels
        self.mpp = mpp

    def _load_metadata(self) -> SlideMetadata:
        h, w = self.pixels.shape[:2]
        return SlideMetadata(
            format="memory",
            levels=(Level(w, h, 1.0),),
            mpp=(self.mpp, self.mpp) if self.mpp else None,
        )

    def tile_size(self, level: int) -> tuple[int, int]:
        return (256, 256)

    def _read_level(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        return self.pixels[y : y + height, x : x + width]


def channel_model(path: Path, channel: int, gain: float = 20.0) -> Path:
    """An ONNX model whose logits are gain * (input[:, channel] - 0.5): it 'segments' exactly
    the guiding map it is told to, so the plumbing can be checked pixel for pixel."""
    from onnx import TensorProto, helper, save

    starts = helper.make_node(
        "Constant", [], ["s"], value=helper.make_tensor("s", 7, [1], [channel])
    )
    ends = helper.make_node(
        "Constant", [], ["e"], value=helper.make_tensor("e", 7, [1], [channel + 1])
    )
    axes = helper.make_node("Constant", [], ["a"], value=helper.make_tensor("a", 7, [1], [1]))
    half = helper.make_node("Constant", [], ["h"], value=helper.make_tensor("h", 1, [], [0.5]))
    scale = helper.make_node("Constant", [], ["g"], value=helper.make_tensor("g", 1, [], [gain]))
    nodes = [
        starts,
        ends,
        axes,
        half,
        scale,
        helper.make_node("Slice", ["input", "s", "e", "a"], ["c"]),
        helper.make_node("Sub", ["c", "h"], ["d"]),
        helper.make_node("Mul", ["d", "g"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "channel",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 5, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 1, "h", "w"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, str(path))
    return path


def rasterise(geometry: BaseGeometry, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centres lie inside `geometry` (pixel-corner convention)."""
    out = np.zeros(shape, dtype=bool)
    if geometry.is_empty:
        return out
    x0, y0, x1, y1 = geometry.bounds
    c0, r0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    c1, r1 = min(shape[1], int(np.ceil(x1)) + 1), min(shape[0], int(np.ceil(y1)) + 1)
    if c0 >= c1 or r0 >= r1:
        return out
    yy, xx = np.mgrid[r0:r1, c0:c1]
    out[r0:r1, c0:c1] = shapely.contains_xy(geometry, xx + 0.5, yy + 0.5)
    return out


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else 1.0


def model_folder(
    folder: Path, channel: int, radius: float = 2.0, mpp: float | None = 0.5, patch: int = 64
) -> Path:
    """A complete `nuclick` model folder around `channel_model`."""
    import yaml

    from tilescope.plugins.manifest import file_sha256

    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = channel_model(folder / "model.onnx", channel)
    manifest = {
        "format": 1,
        "id": f"channel-{channel}",
        "name": "guiding-map echo",
        "version": "1",
        "description": "test model: segments its own guiding map",
        "licence": "Apache-2.0",
        "type": "nuclick",
        "onnx": "model.onnx",
        "sha256": file_sha256(onnx_path),
        "input": {
            "mpp": "native" if mpp is None else mpp,
            "patch_size": patch,
            "batch_size": 4,
            "channel_order": "RGB",
            "normalisation": {"kind": "scale", "scale": 1 / 255},
        },
        "output": {"kind": "instances", "classes": [{"name": "Nucleus"}]},
        "parameters": {"signal_radius": radius, "min_area": 0, "simplify": 0.0},
        "prompted": True,
        "tissue_detection": False,
    }
    (folder / "tilescope-model.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    return folder
