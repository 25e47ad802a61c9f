"""Manifests as a trust boundary: non-finite and unbounded values, files outside the folder,
every problem reported in one pass, and property tests that no mapping ever escapes as
anything but a `ManifestError`."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.inference.synthetic import model_folder
from tests.hostile_documents import any_value, set_at
from tests.plugins.test_manifest import _edit
from tilescope.cli.main import main
from tilescope.plugins.check import check_model
from tilescope.plugins.manifest import (
    ManifestError,
    ManifestProblemsError,
    file_sha256,
    load_manifest,
    parse_manifest,
)


def _write(folder: Path, text: str) -> Path:
    path = folder / "tilescope-model.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("yaml_key", "yaml_value", "key", "words"),
    [
        ("mpp", ".nan", "input.mpp", "finite"),
        ("mpp", ".inf", "input.mpp", "finite"),
        ("mpp", "1.0e+300", "input.mpp", "between"),
        ("mpp", "1.0e-300", "input.mpp", "between"),
        ("batch_size", "100000000", "input.batch_size", "at most 256"),
        ("batch_size", "0", "input.batch_size", "positive"),
        ("patch_size", "1000000", "input.patch_size", "at most 8192"),
        ("patch_size", "[64, 99999]", "input.patch_size", "at most 8192"),
    ],
)
def test_non_finite_and_unbounded_input_values(tmp_path, yaml_key, yaml_value, key, words):
    folder = model_folder(tmp_path)
    path = folder / "tilescope-model.yaml"
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{yaml_key}:"))
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines[index] = f"{indent}{yaml_key}: {yaml_value}"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(folder)
    message = str(caught.value)
    assert f"key '{key}'" in message and words in message and str(path) in message


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d["input"]["normalisation"].update(scale=math.inf), "input.normalisation.scale"),
        (lambda d: d["input"]["normalisation"].update(scale=0), "input.normalisation.scale"),
        (
            lambda d: d["input"].update(
                normalisation={"kind": "mean_std", "mean": [0.5], "std": [math.nan]}
            ),
            "input.normalisation.std",
        ),
        (lambda d: d["parameters"].update(threshold=math.nan), "parameters.threshold"),
        (lambda d: d.update(licence_file="/etc/passwd"), "licence_file"),
        (lambda d: d.update(bioimageio="../rdf.yaml"), "bioimageio"),
    ],
)
def test_other_non_finite_values_and_paths(tmp_path, change, key):
    path = _edit(model_folder(tmp_path), change)
    with pytest.raises(ManifestError, match=f"key '{key}'"):
        load_manifest(path.parent)


def test_onnx_symlink_out_of_the_folder_is_refused(tmp_path):
    folder = model_folder(tmp_path / "models")
    outside = tmp_path / "secret.onnx"
    (folder / "model.onnx").rename(outside)
    os.symlink(outside, folder / "model.onnx")
    with pytest.raises(ManifestError, match=r"key 'onnx'.*links outside the model folder"):
        load_manifest(folder)
    # A link that stays inside the folder is fine.
    (folder / "model.onnx").unlink()
    (folder / "weights").mkdir()
    outside.rename(folder / "weights" / "real.onnx")
    os.symlink(folder / "weights" / "real.onnx", folder / "model.onnx")
    assert load_manifest(folder).onnx_path == folder / "model.onnx"


def test_every_problem_is_reported_at_once(tmp_path):
    def break_three(d: dict) -> None:
        d["input"]["mpp"] = math.nan
        d["input"]["batch_size"] = 10**9
        d["output"]["classes"][0]["colour"] = "red"
        d["colour"] = "blue"

    folder = model_folder(tmp_path)
    _edit(folder, break_three)
    with pytest.raises(ManifestProblemsError) as caught:
        load_manifest(folder)
    keys = [p.key for p in caught.value.problems]
    assert keys == ["input.mpp", "input.batch_size", "output.classes[0].colour", "colour"]
    assert "\n" not in str(caught.value) and "and 3 more" in str(caught.value)


def test_models_check_lists_every_problem_and_the_sha256(tmp_path, capsys):
    folder = model_folder(tmp_path)
    actual = file_sha256(folder / "model.onnx")

    def break_two(d: dict) -> None:
        d["input"]["mpp"] = -1
        d["sha256"] = "0" * 64
        d["output"]["kind"] = "mesh"

    _edit(folder, break_two)
    assert main(["models", "check", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert f"sha256 {actual}" in out
    assert "2 problems" in err and "key 'input.mpp'" in err and "key 'output.kind'" in err
    report = check_model(folder)
    assert report.sha256 == actual and len(report.problems) == 2

    # Manifest valid, but the recorded checksum and the model type's parameters are wrong:
    # both come out in the same run.
    def wrong_hash_and_parameter(d: dict) -> None:
        d["input"]["mpp"] = "native"
        d["output"]["kind"] = "instances"
        d["parameters"]["threshold"] = 7

    _edit(folder, wrong_hash_and_parameter)
    report = check_model(folder)
    assert any("sha256 is" in p and actual in p for p in report.problems)
    assert any("parameters.threshold" in p for p in report.problems)
    assert report.sha256 == actual


def test_models_check_ok_prints_the_sha256(tmp_path, capsys):
    folder = model_folder(tmp_path)
    assert main(["models", "check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"sha256 {file_sha256(folder / 'model.onnx')}" in out and "OK" in out


def test_alias_bomb_and_self_reference_in_parameters(tmp_path):
    folder = model_folder(tmp_path)
    path = folder / "tilescope-model.yaml"
    text = path.read_text()
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    for n in range(1, 9):
        previous = "a" if n == 1 else f"a{n - 1}"
        bomb += f"a{n}: &a{n} [" + ", ".join([f"*{previous}"] * 10) + "]\n"
    data = yaml.safe_load(text)
    data["parameters"] = "PLACEHOLDER"
    text = yaml.safe_dump(data).replace(
        "parameters: PLACEHOLDER",
        "parameters:\n" + "".join(f"  {line}\n" for line in bomb.splitlines()),
    )
    path.write_text(text)
    with pytest.raises(ManifestError, match="too large or too deeply nested"):
        load_manifest(folder)
    path.write_text(yaml.safe_dump(data).replace("parameters: PLACEHOLDER", "parameters: &p [*p]"))
    with pytest.raises(ManifestError):
        load_manifest(folder)


def test_huge_manifest_is_refused_unread(tmp_path):
    path = _write(tmp_path, "# " + "x" * (2 << 20))
    with pytest.raises(ManifestError, match="a manifest is at most"):
        load_manifest(path.parent)


# -- property tests ---------------------------------------------------------------------------
_values = any_value(keys=st.text(max_size=8), text_size=12, dict_size=4, max_leaves=12)


def _valid_mapping(tmp_path: Path) -> dict[str, Any]:
    folder = model_folder(tmp_path)
    return yaml.safe_load((folder / "tilescope-model.yaml").read_text())


_KEYS = [
    ("format",),
    ("id",),
    ("onnx",),
    ("sha256",),
    ("input",),
    ("input", "mpp"),
    ("input", "patch_size"),
    ("input", "overlap"),
    ("input", "halo"),
    ("input", "batch_size"),
    ("input", "normalisation"),
    ("input", "normalisation", "scale"),
    ("output",),
    ("output", "classes"),
    ("parameters",),
    ("authors",),
]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.lists(st.tuples(st.sampled_from(_KEYS), _values), min_size=1, max_size=4))
def test_any_value_anywhere_is_accepted_sanely_or_refused_in_one_line(tmp_path, edits):
    data = _valid_mapping(tmp_path)
    for keys, value in edits:
        set_at(data, keys, value)
    path = tmp_path / "test-threshold" / "tilescope-model.yaml"
    try:
        manifest = parse_manifest(data, path)
    except ManifestError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(str(path))
        return
    # Accepted: every number the tiler and pre-processing use is finite and bounded.
    spec = manifest.input
    assert spec.mpp is None or 0.01 <= spec.mpp <= 100
    assert all(0 < side <= 8192 for side in spec.patch_size)
    assert 0 < spec.batch_size <= 256
    assert math.isfinite(spec.normalisation.scale) and spec.normalisation.scale != 0
    assert 2 * max((spec.overlap + 1) // 2, spec.halo) < min(spec.patch_size)


def test_models_check_lists_every_parameter_problem_of_the_model_type(tmp_path):
    folder = model_folder(tmp_path)

    def three_parameter_problems(d: dict) -> None:
        d["parameters"].update(threshold=7, thresold=0.3, min_area=-5)
        d["prompted"] = True

    _edit(folder, three_parameter_problems)
    problems = check_model(folder).problems
    keys = sorted(p.split("key '")[1].split("'")[0] for p in problems)
    assert keys == [
        "parameters.min_area",
        "parameters.threshold",
        "parameters.thresold",
        "prompted",
    ]


def test_keys_and_values_with_control_characters_stay_on_one_line(tmp_path):
    """Found by the property test: a key "\\n" under input made a two-line message."""
    data = _valid_mapping(tmp_path)
    data["input"]["\n"] = None
    data["name\x00"] = "x"
    path = tmp_path / "test-threshold" / "tilescope-model.yaml"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data, path)
    assert "\n" not in str(caught.value) and "key 'input.\\n'" in str(caught.value)
    assert "key 'name\\x00'" in str(caught.value)
