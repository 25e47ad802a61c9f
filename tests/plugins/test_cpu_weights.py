"""int8 weights for the CPU beside the float ones: manifest keys, which file runs, checks,
and that the two give the same nuclei on a real slide."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml

from tilescope.engine.inference.memory_slide import ArraySlide
from tilescope.engine.inference.metrics import instance_f1, rasterize
from tilescope.engine.inference.runner import RunOptions, run_on_slide
from tilescope.engine.slide import RegionRequest, open_slide
from tilescope.plugins.catalog import load_model
from tilescope.plugins.check import check_model
from tilescope.plugins.manifest import ManifestError, file_sha256, load_manifest
from tilescope.resources import resource_path

INT8_SETTING = "TILESCOPE_CPU_INT8_WEIGHTS"
BUNDLED_INT8 = ("nuclei-he", "nuclick")


def _demo_region(size: int = 640) -> np.ndarray:
    """Real H&E pixels: the middle of the bundled demo slide at its native 0.5 um/px."""
    with open_slide(resource_path("slides", "CMU-1-Small-Region.svs")) as slide:
        w, h = slide.metadata.width, slide.metadata.height
        x, y = (w - size) // 2, (h - size) // 2
        return np.asarray(slide.read_region(RegionRequest(x, y, size, size)))[..., :3]


def _labels(model_id: str, image: np.ndarray) -> np.ndarray:
    model = load_model(model_id, device="cpu", threads=1)
    with ArraySlide(np.ascontiguousarray(image), mpp=0.5) as slide:
        found = run_on_slide(slide, model, RunOptions(tissue_detection=False)).annotations
    return rasterize([a.geometry for a in found], image.shape[:2])


def _quantised_ops(path: Path) -> int:
    return sum(node.op_type == "QuantizeLinear" for node in onnx.load(str(path)).graph.node)


@pytest.mark.parametrize("model_id", BUNDLED_INT8)
def test_bundled_models_ship_checked_int8_weights(model_id: str) -> None:
    folder = resource_path("models", model_id)
    manifest = load_manifest(folder)
    assert manifest.cpu_onnx_path is not None and manifest.cpu_onnx_path.is_file()
    assert _quantised_ops(manifest.cpu_onnx_path) > 10
    assert _quantised_ops(manifest.onnx_path) == 0
    report = check_model(folder)  # both checksums, both signatures, a smoke run
    assert report.problems == []
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "## int8 weights for the CPU" in card


def test_the_cpu_runs_int8_unless_the_setting_says_no(monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = load_manifest(resource_path("models", "nuclei-he"))
    model = load_model("nuclei-he", device="cpu", threads=1)
    assert model.model.onnx_path == manifest.cpu_onnx_path
    assert model.identity().sha256 == manifest.cpu_sha256  # a run records what really ran
    monkeypatch.setenv(INT8_SETTING, "false")
    assert model.model.onnx_path == manifest.onnx_path
    assert model.identity().sha256 == manifest.sha256


def test_int8_and_float_weights_find_the_same_nuclei(monkeypatch: pytest.MonkeyPatch) -> None:
    image = _demo_region()
    int8 = _labels("nuclei-he", image)
    monkeypatch.setenv(INT8_SETTING, "false")
    float_ = _labels("nuclei-he", image)
    assert int(float_.max()) > 100  # a region full of nuclei
    agreement = instance_f1(float_, int8)
    assert agreement.f1 >= 0.95, agreement


def _copy(tmp_path: Path, model_id: str = "nuclei-he") -> Path:
    folder = tmp_path / model_id
    shutil.copytree(resource_path("models", model_id), folder)
    return folder


def _edit(folder: Path, **changes: object) -> None:
    path = folder / "tilescope-model.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"cpu_sha256": None}, "cpu_sha256", "go together"),  # the missing key is named
        ({"cpu_onnx": None}, "cpu_onnx", "go together"),
        ({"cpu_onnx": "../elsewhere.onnx"}, "cpu_onnx", "inside the model folder"),
        ({"cpu_onnx": "weights.bin"}, "cpu_onnx", "must name an .onnx file"),
        ({"cpu_sha256": "abc"}, "cpu_sha256", "64 hexadecimal"),
    ],
)
def test_bad_cpu_weight_keys_name_the_key(
    tmp_path: Path, changes: dict[str, object], key: str, words: str
) -> None:
    folder = _copy(tmp_path)
    _edit(folder, **changes)
    with pytest.raises(ManifestError) as info:
        load_manifest(folder)
    assert f"key '{key}'" in str(info.value) and words in str(info.value)


def test_check_finds_a_changed_int8_file(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    int8 = load_manifest(folder).cpu_onnx_path
    assert int8 is not None
    int8.write_bytes(int8.read_bytes() + b"\0")
    problems = check_model(folder).problems
    assert any(str(int8) in p and "sha256" in p for p in problems), problems


def test_a_folder_without_int8_weights_runs_its_float_weights(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    int8 = load_manifest(folder).cpu_onnx_path
    assert int8 is not None
    int8.unlink()
    _edit(folder, cpu_onnx=None, cpu_sha256=None)
    model = load_model(folder, device="cpu", threads=1)
    assert model.model.onnx_path == folder / "nuclei-he.onnx"
    assert check_model(folder).problems == []
    assert file_sha256(folder / "nuclei-he.onnx") == model.identity().sha256


def test_models_show_names_both_weight_files(capsys: pytest.CaptureFixture[str]) -> None:
    from tilescope.cli.main import main

    assert main(["models", "show", "nuclei-he"]) == 0
    card = capsys.readouterr().out
    assert "weights:     nuclei-he.onnx" in card
    assert "CPU weights: nuclei-he.int8.onnx (int8" in card


def test_models_check_lists_both_files(capsys: pytest.CaptureFixture[str]) -> None:
    from tilescope.cli.main import main

    folder = resource_path("models", "nuclick")
    assert main(["models", "check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"{file_sha256(folder / 'nuclick.onnx')}  {folder / 'nuclick.onnx'}" in out
    assert f"{file_sha256(folder / 'nuclick.int8.onnx')}  {folder / 'nuclick.int8.onnx'}" in out
    assert "nuclick: OK (nuclick, nuclick.int8.onnx ran once" in out
