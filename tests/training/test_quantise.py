"""`training.quantise`: int8 weights that agree with the float ones, and the card section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tilescope.engine.slide import RegionRequest, open_slide
from tilescope.plugins.manifest import load_manifest
from tilescope.resources import resource_path
from tilescope.training.quantise import (
    CARD_END,
    CARD_START,
    COMPARISON_NAME,
    card_section,
    drop_int8,
    quantise,
    write_card_section,
)


def _crops(count: int, size: int = 256) -> list[np.ndarray]:
    with open_slide(resource_path("slides", "CMU-1-Small-Region.svs")) as slide:
        w = slide.metadata.width
        return [
            np.asarray(slide.read_region(RegionRequest(x, 300, size, size)))[..., :3]
            for x in np.linspace(0, w - size, count).astype(int)
        ]


def _probability(path: Path, image: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return session.run(None, {session.get_inputs()[0].name: feed})[0][0, 0]


def test_int8_weights_agree_with_the_float_ones(tmp_path: Path) -> None:
    source = load_manifest(resource_path("models", "nuclei-he")).onnx_path
    crops = _crops(5)
    feeds = [{"image": c.transpose(2, 0, 1)[None].astype(np.float32) / 255.0} for c in crops[:4]]
    target = tmp_path / "int8.onnx"
    quantise(source, target, feeds)
    assert target.stat().st_size < source.stat().st_size / 2
    unseen = crops[4]  # not among the calibration inputs
    exact, approx = _probability(source, unseen), _probability(target, unseen)
    assert np.abs(exact - approx).mean() < 0.02
    assert ((exact > 0.5) == (approx > 0.5)).mean() > 0.97


def test_card_section_is_replaced_not_repeated(tmp_path: Path) -> None:
    folder = resource_path("models", "nuclei-he")
    comparison = json.loads((folder / COMPARISON_NAME).read_text(encoding="utf-8"))
    card = tmp_path / "README.md"
    card.write_text("# A model\n\nSome text.\n", encoding="utf-8")
    section = card_section(comparison, "python -m tilescope.training.quantise --model X")
    write_card_section(tmp_path, section)
    write_card_section(tmp_path, section)
    text = card.read_text(encoding="utf-8")
    assert text.startswith("# A model\n\nSome text.\n")
    assert text.count(CARD_START) == 1 and text.count(CARD_END) == 1
    macro = comparison["int8"]["macro"]
    assert f"{macro['f1']:.3f} / {macro['aji']:.3f} / {macro['pq']:.3f}" in text


def test_a_re_release_drops_int8_weights_made_from_the_old_float_ones(tmp_path: Path) -> None:
    for name in ("model.onnx", "model.int8.onnx", COMPARISON_NAME, "README.md"):
        (tmp_path / name).write_bytes(b"x")
    drop_int8(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "model.onnx"]
