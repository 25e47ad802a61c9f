"""Manifest validation: good manifests load; every error names the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.inference.synthetic import model_folder
from tilescope.plugins.catalog import load_model
from tilescope.plugins.manifest import ManifestError, load_manifest, parse_manifest
from tilescope.resources import resource_path


def _edit(folder: Path, change: Any) -> Path:
    path = folder / "tilescope-model.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    return path


def test_bundled_manifest_is_valid() -> None:
    manifest = load_manifest(resource_path("models", "nuclei-unet-fluo"))
    assert manifest.id == "nuclei-unet-fluo"
    assert manifest.input.mpp is None and manifest.input.halo == 32
    assert manifest.input.normalisation.kind == "zero_mean_unit_variance"
    assert manifest.class_names == ("Nucleus",)
    assert manifest.tissue_detection is False and manifest.prompted is False


def test_round_trip_through_to_dict(tmp_path: Path) -> None:
    manifest = load_manifest(model_folder(tmp_path))
    again = parse_manifest(manifest.to_dict(), manifest.path)
    assert again == manifest


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda d: d.update(colour="red"), "colour", "not a known key"),
        (lambda d: d["input"].update(speed=3), "input.speed", "not a known key"),
        (lambda d: d.pop("sha256"), "sha256", "required but missing"),
        (lambda d: d.update(sha256="abc"), "sha256", "64 hexadecimal"),
        (lambda d: d["input"].update(mpp="fast"), "input.mpp", "number or 'native'"),
        (lambda d: d["input"].update(mpp=-1), "input.mpp", "positive"),
        (lambda d: d["input"].update(patch_size=[64]), "input.patch_size", "width, height"),
        (lambda d: d["input"].update(batch_size=True), "input.batch_size", "must be int"),
        (lambda d: d["input"].update(overlap=80), "input.overlap", "no core"),
        (lambda d: d["input"].update(channel_order="RGBA"), "input.channel_order", "one of"),
        (
            lambda d: d["input"].update(normalisation={"kind": "mean_std", "mean": [1, 2]}),
            "input.normalisation.std",
            "required",
        ),
        (lambda d: d["output"].update(kind="mesh"), "output.kind", "one of"),
        (
            lambda d: d["output"].update(classes=[{"name": "a", "colour": "blue"}]),
            "output.classes[0].colour",
            "#rrggbb",
        ),
        (lambda d: d.update(id="Bad Id"), "id", "lowercase"),
        (lambda d: d.update(onnx="../x.onnx"), "onnx", "inside the model folder"),
        (lambda d: d.update(prompted="yes"), "prompted", "must be bool"),
        (lambda d: d.update(format=2), "format", "not supported"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, change: Any, key: str, words: str) -> None:
    path = _edit(model_folder(tmp_path), change)
    with pytest.raises(ManifestError) as info:
        load_manifest(path.parent)
    message = str(info.value)
    assert str(path) in message
    assert f"key '{key}'" in message
    assert words in message


def test_type_specific_parameters_are_validated(tmp_path: Path) -> None:
    folder = model_folder(tmp_path)
    _edit(folder, lambda d: d["parameters"].update(thresold=0.3))
    with pytest.raises(ManifestError, match=r"key 'parameters.thresold': is not a parameter"):
        load_model(folder)

    def fix_name_break_value(d: dict) -> None:
        d["parameters"].pop("thresold")
        d["parameters"]["threshold"] = 2

    _edit(folder, fix_name_break_value)
    with pytest.raises(ManifestError, match=r"key 'parameters.threshold': must be at most 1"):
        load_model(folder)


def test_defaults_filled_for_missing_parameters(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, parameters={"threshold": 0.4})
    model = load_model(folder)
    assert model.parameters["threshold"] == 0.4
    assert model.parameters["activation"] == "sigmoid"  # the type's default


def test_bad_yaml_and_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="model manifest not found"):
        load_manifest(tmp_path)
    (tmp_path / "tilescope-model.yaml").write_text("id: [unclosed\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(tmp_path)
    (tmp_path / "tilescope-model.yaml").write_text("- a list\n")
    with pytest.raises(ManifestError, match="must be a mapping"):
        load_manifest(tmp_path)
