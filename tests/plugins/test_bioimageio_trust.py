"""bioimage.io packages as a trust boundary: weights confined to the package, zip sizes
limited before anything is unpacked, and malformed descriptions refused in one line."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile_documents import any_value
from tests.plugins.test_check_and_bioimageio import _v04_package
from tilescope.cli.main import main
from tilescope.plugins.bioimageio import BioimageioError, import_package, manifest_from_rdf
from tilescope.plugins.manifest import ManifestError


def _rdf(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "rdf.yaml").read_text())


def _set_rdf(folder: Path, data: dict[str, Any]) -> None:
    (folder / "rdf.yaml").write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("where", ["absolute", "dotdot"])
def test_weights_outside_the_package_are_refused(tmp_path, where):
    folder = _v04_package(tmp_path / "pkg")
    secret = tmp_path / "secret.onnx"
    (folder / "net.onnx").rename(secret)
    data = _rdf(folder)
    data["weights"]["onnx"]["source"] = str(secret) if where == "absolute" else "../secret.onnx"
    _set_rdf(folder, data)
    with pytest.raises(BioimageioError, match=r"weights.onnx.source.*inside the package"):
        import_package(folder, tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_weights_symlinked_out_of_the_package_are_refused(tmp_path):
    folder = _v04_package(tmp_path / "pkg")
    secret = tmp_path / "secret.onnx"
    (folder / "net.onnx").rename(secret)
    os.symlink(secret, folder / "net.onnx")
    with pytest.raises(BioimageioError, match="links outside the package"):
        import_package(folder, tmp_path / "models")


def _zip(folder: Path, archive: Path, extra: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for f in folder.iterdir():
            z.write(f, f.name)
        for name, size in (extra or {}).items():
            with z.open(name, "w", force_zip64=True) as member:
                block = bytes(1 << 20)
                for _ in range(size >> 20):
                    member.write(block)
    return archive


def test_one_gib_zero_entry_is_refused_before_extraction(tmp_path, monkeypatch):
    archive = _zip(_v04_package(tmp_path / "pkg"), tmp_path / "bomb.zip", {"zeros.bin": 1 << 30})
    assert archive.stat().st_size < 20 << 20  # 1 GiB of zeros packs into a few MB
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(BioimageioError, match=r"zeros.bin would unpack to 1073741824 bytes"):
        import_package(archive, tmp_path / "models")
    assert list(scratch.rglob("*")) == []  # nothing was written, not even the small files
    assert not (tmp_path / "models").exists()


def test_total_size_and_file_count_limits(tmp_path, monkeypatch):
    from tilescope.plugins import bioimageio

    folder = _v04_package(tmp_path / "pkg")
    archive = _zip(folder, tmp_path / "pkg.zip")
    monkeypatch.setattr(bioimageio, "MAX_PACKAGE_BYTES", 100)
    with pytest.raises(BioimageioError, match="may hold at most 100 bytes"):
        import_package(archive, tmp_path / "models")
    monkeypatch.setattr(bioimageio, "MAX_PACKAGE_BYTES", 1 << 30)
    monkeypatch.setattr(bioimageio, "MAX_PACKAGE_FILES", 1)
    with pytest.raises(BioimageioError, match="at most 1"):
        import_package(archive, tmp_path / "models")


def test_zip_slip_member_is_refused(tmp_path):
    archive = tmp_path / "slip.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../evil.txt", "x")
    with pytest.raises(BioimageioError, match="unsafe path"):
        import_package(archive, tmp_path / "models")
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(inputs={"a": 1}),
        lambda d: d.update(inputs=[["not", "a", "mapping"]]),
        lambda d: d["inputs"][0].update(axes="bcyx", shape=[1, 1]),
        lambda d: d["outputs"][0].update(halo=["x", "y", "z", "w"]),
        lambda d: d["outputs"][0].update(halo=[0, 0, float("nan"), 0]),
        lambda d: d.update(weights=["onnx"]),
        lambda d: d["weights"].update(onnx={"source": {"nested": 1}}),
        lambda d: d["inputs"][0].update(preprocessing=["zero_mean_unit_variance"]),
        lambda d: d.update(outputs=[{"axes": "bcyx"}], type="model", authors=5),
    ],
)
def test_malformed_package_is_one_line_through_the_cli(tmp_path, change, capsys):
    folder = _v04_package(tmp_path / "pkg")
    data = _rdf(folder)
    change(data)
    _set_rdf(folder, data)
    os.environ["TILESCOPE_DATA_DIR"] = str(tmp_path / "data")
    try:
        code = main(["models", "import", str(folder)])
    finally:
        del os.environ["TILESCOPE_DATA_DIR"]
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "Traceback" not in err[0] and ("rdf.yaml" in err[0] or "net.onnx" in err[0]), err[0]


@pytest.mark.parametrize(
    "text", ["[unclosed", "- just\n- a list\n", "\xff\xfe", "a: &a [*a, *a]\nb: 1\n"]
)
def test_unreadable_descriptions_are_one_line(tmp_path, text):
    folder = _v04_package(tmp_path / "pkg")
    (folder / "rdf.yaml").write_text(text, encoding="latin-1")
    with pytest.raises(BioimageioError) as caught:
        import_package(folder, tmp_path / "models")
    assert "\n" not in str(caught.value) and "rdf.yaml" in str(caught.value)


# -- property test: any description gives a mapping or one BioimageioError ------------------
_values = any_value(
    keys=st.sampled_from(
        [
            "axes",
            "shape",
            "halo",
            "id",
            "type",
            "size",
            "min",
            "step",
            "kwargs",
            "name",
            "channel_names",
        ]
    ),
    int_bound=10**6,
    text_size=6,
    dict_size=4,
    max_leaves=10,
)
_FIELDS = ["inputs", "outputs", "name", "id", "authors", "cite", "license", "type"]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.dictionaries(st.sampled_from(_FIELDS), _values, min_size=1, max_size=3))
def test_any_description_maps_or_fails_in_one_line(tmp_path, edits):
    folder = tmp_path / "prop"
    if not folder.exists():
        _v04_package(folder)
        (folder / "base.yaml").write_text((folder / "rdf.yaml").read_text())
    data = yaml.safe_load((folder / "base.yaml").read_text())
    data.update(edits)
    rdf = folder / "rdf.yaml"
    rdf.write_text(yaml.safe_dump(data))
    try:
        mapping = manifest_from_rdf(rdf, "net.onnx", "0" * 64)
    except ManifestError as error:
        assert "\n" not in str(error) and str(rdf) in str(error)
        return
    assert isinstance(mapping, dict) and mapping["onnx"] == "net.onnx"
