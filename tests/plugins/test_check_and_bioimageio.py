"""`models check` finds what is wrong in words; bioimage.io packages import and reproduce."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import shared_file
from tests.engine.inference.synthetic import identity_model, model_folder
from tilescope.plugins.bioimageio import BioimageioError, import_package
from tilescope.plugins.catalog import load_model
from tilescope.plugins.check import check_model_folder
from tilescope.plugins.manifest import file_sha256
from tilescope.resources import resource_path


def test_bundled_and_synthetic_models_pass(tmp_path: Path) -> None:
    assert check_model_folder(resource_path("models", "nuclei-unet-fluo"))[1] == []
    assert check_model_folder(model_folder(tmp_path))[1] == []


def test_missing_onnx(tmp_path: Path) -> None:
    folder = model_folder(tmp_path)
    (folder / "model.onnx").unlink()
    problems = check_model_folder(folder)[1]
    assert len(problems) == 1 and "missing" in problems[0] and "model.onnx" in problems[0]


def test_hash_mismatch_and_corrupt_file(tmp_path: Path) -> None:
    folder = model_folder(tmp_path)
    (folder / "model.onnx").write_bytes(b"\x08\x07garbage")
    problems = check_model_folder(folder)[1]
    assert any("sha256 is" in p and "corrupt" in p for p in problems)
    assert any("ONNX Runtime cannot load" in p for p in problems)


def test_input_shape_differs_from_manifest(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, onnx_size=32)  # the graph takes 32 x 32, manifest says 64
    problems = check_model_folder(folder)[1]
    assert any("has shape ['N', 1, 32, 32]" in p and "[4, 1, 64, 64]" in p for p in problems)


def test_channel_count_differs_from_manifest(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, channels=3)  # RGB graph, manifest says gray
    problems = check_model_folder(folder)[1]
    assert any("input 'image'" in p and "gives [4, 1, 64, 64]" in p for p in problems)


def test_required_output_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tilescope.plugins.semantic import SemanticInstances

    monkeypatch.setattr(SemanticInstances, "required_outputs", ("logits", "probability"))
    problems = check_model_folder(model_folder(tmp_path))[1]
    assert problems == [
        f"{tmp_path / 'test-threshold' / 'model.onnx'}: outputs logits missing "
        "(the model has probability)"
    ]


# -- bioimage.io ----------------------------------------------------------------------------
def test_reference_tensor_reproduces_through_our_preprocessing() -> None:
    package = shared_file("models", "unet2d_nuclei_broad")
    x = np.load(package / "test_input.npy")
    expected = np.load(package / "test_output.npy")
    model = load_model("nuclei-unet-fluo", device="cpu")
    fed = model.preprocess([x[0].transpose(1, 2, 0)])  # H x W x C tile, as the runner gives
    got = model.probabilities(model.run(fed)[0])
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) < 1e-4


def test_import_05_package(tmp_path: Path) -> None:
    package = shared_file("models", "unet2d_nuclei_broad")
    manifest = import_package(package, tmp_path)
    assert manifest.folder == tmp_path / manifest.id
    assert manifest.input.halo == 32 and manifest.input.patch_size == (512, 512)
    assert manifest.input.channel_order == "gray"
    assert manifest.input.normalisation.kind == "zero_mean_unit_variance"
    assert manifest.parameters["activation"] == "sigmoid"
    assert manifest.licence == "MIT" and manifest.authors
    assert check_model_folder(manifest.folder)[1] == []
    with pytest.raises(BioimageioError, match="already installed"):
        import_package(package, tmp_path)


def _v04_package(root: Path, weights: bool = True) -> Path:
    root.mkdir()
    onnx = identity_model(root / "net.onnx", channels=1, size=None)
    rdf = {
        "format_version": "0.4.10",
        "type": "model",
        "name": "Tiny 0.4 model",
        "description": "identity",
        "license": "CC-BY-4.0",
        "authors": [{"name": "A. Tester"}],
        "inputs": [
            {
                "name": "image",
                "axes": "bcyx",
                "data_type": "float32",
                "shape": {"min": [1, 1, 64, 64], "step": [0, 0, 32, 32]},
                "preprocessing": [
                    {
                        "name": "zero_mean_unit_variance",
                        "kwargs": {"mode": "per_sample", "axes": "xy"},
                    }
                ],
            }
        ],
        "outputs": [
            {
                "name": "probability",
                "axes": "bcyx",
                "halo": [0, 0, 8, 8],
                "shape": {
                    "reference_tensor": "image",
                    "scale": [1, 1, 1, 1],
                    "offset": [0, 0, 0, 0],
                },
            }
        ],
        "weights": {"onnx": {"source": "net.onnx", "sha256": file_sha256(onnx)}}
        if weights
        else {"pytorch_state_dict": {"source": "w.pt"}},
    }
    (root / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    return root


def test_import_04_package_zipped(tmp_path: Path) -> None:
    folder = _v04_package(tmp_path / "pkg")
    archive = tmp_path / "pkg.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in folder.iterdir():
            z.write(f, f.name)
    manifest = import_package(archive, tmp_path / "models")
    assert manifest.id == "tiny-0.4-model"
    assert manifest.input.patch_size == (512, 512)  # 64 + n * 32 nearest 512
    assert manifest.input.halo == 8
    assert manifest.parameters["activation"] == "none"
    assert check_model_folder(manifest.folder)[1] == []


def test_package_without_onnx_weights_is_refused(tmp_path: Path) -> None:
    folder = _v04_package(tmp_path / "pkg", weights=False)
    with pytest.raises(
        BioimageioError, match=r"key 'weights': no ONNX weights .*pytorch_state_dict"
    ):
        import_package(folder, tmp_path / "models")


def test_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    folder = _v04_package(tmp_path / "pkg")
    shutil.copy(folder / "net.onnx", tmp_path / "orig.onnx")
    (folder / "net.onnx").write_bytes((tmp_path / "orig.onnx").read_bytes() + b"\0")
    with pytest.raises(BioimageioError, match="sha256 is"):
        import_package(folder, tmp_path / "models")
