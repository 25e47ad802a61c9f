"""Import bioimage.io model packages (format 0.4 and 0.5) with ONNX weights as tilescope models.

Reads `rdf.yaml` / `bioimageio.yaml` (a folder, the file itself, or a .zip package): the first
input's axes, spatial size and preprocessing (zero_mean_unit_variance, scale_range is refused
as not equivalent), the first output's halo, channels and postprocessing (sigmoid), the
licence, authors and citation. The package files are copied into the user's model folder
next to a generated `tilescope-model.yaml`; the ONNX checksum is verified when the package
declares one. Anything tilescope cannot honour is an error naming the file and the key.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from tilescope.engine import user_dirs
from tilescope.plugins.manifest import (
    FORMAT_VERSION,
    ManifestError,
    ModelManifest,
    file_sha256,
    load_manifest,
)

RDF_NAMES = ("bioimageio.yaml", "rdf.yaml")
SPACE = ("x", "y")
DEFAULT_PATCH = 512
_PALETTE = ("#30a0ff", "#ff3030", "#30d030", "#ffb000", "#b040ff", "#00c0c0")


class BioimageioError(ManifestError):
    """A package tilescope cannot import; names the file and the key."""


def _find_rdf(folder: Path) -> Path:
    for name in RDF_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.bioimageio.yaml")) + sorted(folder.glob("*rdf.yaml"))
    if found:
        return found[0]
    raise BioimageioError(folder, "no bioimageio.yaml or rdf.yaml in this package")


def _axes(tensor: dict[str, Any], rdf: Path, key: str) -> list[dict[str, Any]]:
    """Axes as dicts {id, type, size, halo, channel_names}, for both format versions."""
    axes = tensor.get("axes")
    if isinstance(axes, str):  # 0.4: "bcyx" + shape + halo lists
        shape = tensor.get("shape")
        halo = tensor.get("halo") or [0] * len(axes)
        out = []
        for i, letter in enumerate(axes):
            size: Any = None
            if isinstance(shape, list):
                size = shape[i]
            elif isinstance(shape, dict) and "min" in shape:
                size = {"min": shape["min"][i], "step": shape["step"][i]}
            kind = {"b": "batch", "c": "channel", "x": "space", "y": "space"}.get(letter, "other")
            if kind != "space" and isinstance(size, dict):
                size = size["min"] if not size["step"] else None  # fixed channel/batch size
            out.append({"id": letter, "type": kind, "size": size, "halo": halo[i]})
        return out
    if isinstance(axes, list):  # 0.5: list of axis mappings
        out = []
        for axis in axes:
            if not isinstance(axis, dict):
                raise BioimageioError(rdf, f"axis entries must be mappings, got {axis!r}", key)
            kind = axis.get("type", "other")
            axis_id = axis.get("id") or {"batch": "b", "channel": "c"}.get(kind, "x")
            size = axis.get("size")
            if kind == "channel":
                size = len(axis.get("channel_names") or []) or size
            out.append(
                {
                    "id": axis_id,
                    "type": kind,
                    "size": size,
                    "halo": axis.get("halo", 0),
                    "channel_names": axis.get("channel_names"),
                }
            )
        return out
    raise BioimageioError(rdf, "axes missing or not understood", key)


def _spatial_size(size: Any) -> int:
    if isinstance(size, int):
        return size
    if isinstance(size, dict) and "min" in size:
        minimum, step = int(size["min"]), int(size.get("step") or 0)
        if step <= 0:
            return minimum
        n = max(0, -(-(DEFAULT_PATCH - minimum) // step))
        return minimum + n * step
    return DEFAULT_PATCH


def _normalisation(preprocessing: list[Any], rdf: Path) -> dict[str, Any]:
    norm: dict[str, Any] = {"kind": "none"}
    for step in preprocessing or []:
        name = step.get("id") or step.get("name")
        kwargs = step.get("kwargs") or {}
        if name in ("ensure_dtype",):
            continue
        if name == "zero_mean_unit_variance":
            mode = kwargs.get("mode", "per_sample")
            if mode not in ("per_sample",):
                raise BioimageioError(
                    rdf, f"zero_mean_unit_variance mode {mode!r} is not supported", "preprocessing"
                )
            norm = {"kind": "zero_mean_unit_variance", "eps": float(kwargs.get("eps", 1e-6))}
        elif name == "scale_linear" and not isinstance(kwargs.get("gain"), list):
            gain, offset = float(kwargs.get("gain", 1.0)), float(kwargs.get("offset", 0.0))
            if offset != 0.0:
                raise BioimageioError(
                    rdf, "scale_linear with an offset is not supported", "preprocessing"
                )
            norm = {"kind": "scale", "scale": gain}
        else:
            raise BioimageioError(
                rdf, f"preprocessing {name!r} is not supported by tilescope", "preprocessing"
            )
    return norm


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return slug or "bioimageio-model"


def manifest_from_rdf(rdf: Path, onnx_name: str, sha256: str) -> dict[str, Any]:
    """The tilescope manifest mapping for a bioimage.io description (no file copying)."""
    try:
        data = yaml.safe_load(rdf.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise BioimageioError(rdf, f"not valid YAML ({error})") from None
    if not isinstance(data, dict) or data.get("type", "model") != "model":
        raise BioimageioError(rdf, "not a bioimage.io model description", "type")
    inputs, outputs = data.get("inputs") or [], data.get("outputs") or []
    if len(inputs) != 1:
        raise BioimageioError(
            rdf, f"tilescope needs exactly one input, found {len(inputs)}", "inputs"
        )
    if not outputs:
        raise BioimageioError(rdf, "no outputs", "outputs")
    in_axes = _axes(inputs[0], rdf, "inputs[0].axes")
    out_axes = _axes(outputs[0], rdf, "outputs[0].axes")
    if {a["id"] for a in in_axes if a["type"] == "space"} - set(SPACE) or len(
        [a for a in in_axes if a["type"] == "space"]
    ) != 2:
        raise BioimageioError(rdf, "only 2D (y, x) models are supported", "inputs[0].axes")
    order = [a["type"] for a in in_axes]
    if order[:2] != ["batch", "channel"]:
        raise BioimageioError(
            rdf, f"axes must be batch, channel, y, x; got {order}", "inputs[0].axes"
        )
    channels = next(a["size"] for a in in_axes if a["type"] == "channel")
    if channels not in (1, 3):
        raise BioimageioError(
            rdf, f"{channels} input channels (tilescope feeds 1 or 3)", "inputs[0].axes"
        )
    space = {a["id"]: a for a in in_axes if a["type"] == "space"}
    patch = [_spatial_size(space["x"]["size"]), _spatial_size(space["y"]["size"])]
    halo = max(int(a.get("halo") or 0) for a in out_axes)
    batch_axis = in_axes[0]["size"]
    batch = batch_axis if isinstance(batch_axis, int) and batch_axis > 0 else 1
    post = [p.get("id") or p.get("name") for p in outputs[0].get("postprocessing") or []]
    channel_axis = next((a for a in out_axes if a["type"] == "channel"), None)
    names = (channel_axis or {}).get("channel_names") or ["foreground"]
    classes = [
        {"name": str(n).replace("_", " ").capitalize(), "colour": _PALETTE[i % len(_PALETTE)]}
        for i, n in enumerate(names)
    ]
    authors = [
        a.get("name", str(a)) if isinstance(a, dict) else str(a) for a in data.get("authors") or []
    ]
    cite = data.get("cite") or []
    citation = "; ".join(c.get("text", "") for c in cite if isinstance(c, dict)) or None
    licence = str(data.get("license") or data.get("licence") or "unknown")
    name = str(data.get("name") or rdf.parent.name)
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "id": _slug(str(data.get("id") or name).split("/")[-1]),
        "name": name,
        "version": str(data.get("version") or data.get("format_version") or "1"),
        "description": str(data.get("description") or name),
        "licence": licence,
        "type": "unet-semantic",
        "onnx": onnx_name,
        "sha256": sha256,
        "bioimageio": rdf.name,
        "input": {
            "mpp": "native",
            "patch_size": patch,
            "overlap": max(2 * halo, min(patch) // 4),
            "halo": halo,
            "batch_size": batch,
            "channel_order": "gray" if channels == 1 else "RGB",
            "normalisation": _normalisation(inputs[0].get("preprocessing") or [], rdf),
        },
        "output": {"kind": "instances", "classes": classes[:1]},
        "parameters": {"activation": "sigmoid" if "sigmoid" in post else "none"},
        "prompted": False,
        "tissue_detection": channels == 3,
    }
    if authors:
        manifest["authors"] = authors
    if citation:
        manifest["citation"] = citation
    if data.get("git_repo"):
        manifest["source"] = str(data["git_repo"])
    return manifest


def _onnx_entry(data: dict[str, Any], rdf: Path) -> tuple[str, str | None]:
    weights = data.get("weights") or {}
    entry = weights.get("onnx")
    if not isinstance(entry, dict) or not entry.get("source"):
        kinds = ", ".join(weights) or "none"
        raise BioimageioError(rdf, f"no ONNX weights (this package has: {kinds})", "weights")
    source = str(entry["source"])
    if "://" in source:
        raise BioimageioError(
            rdf,
            f"ONNX weights are a URL ({source}); tilescope never downloads",
            "weights.onnx.source",
        )
    return source, entry.get("sha256")


def import_package(
    path: str | Path, models_dir: Path | None = None, overwrite: bool = False
) -> ModelManifest:
    """Copy a bioimage.io package into `models_dir` (default: the user's) as a tilescope model."""
    path = Path(path)
    if not path.exists():
        raise BioimageioError(path, "not found")
    with tempfile.TemporaryDirectory() as scratch:
        if path.is_file() and path.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    for member in archive.namelist():
                        if Path(member).is_absolute() or ".." in Path(member).parts:
                            raise BioimageioError(path, f"unsafe path in archive: {member}")
                    archive.extractall(scratch)
            except zipfile.BadZipFile:
                raise BioimageioError(path, "not a valid zip file") from None
            folder = Path(scratch)
            rdf = _find_rdf(folder)
        elif path.is_file():
            rdf, folder = path, path.parent
        else:
            folder = path
            rdf = _find_rdf(folder)
        data = yaml.safe_load(rdf.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise BioimageioError(rdf, "not a bioimage.io model description")
        source, declared = _onnx_entry(data, rdf)
        onnx = rdf.parent / source
        if not onnx.is_file():
            raise BioimageioError(
                rdf, f"ONNX weights file {source} is missing", "weights.onnx.source"
            )
        sha = file_sha256(onnx)
        if declared and declared.lower() != sha:
            raise BioimageioError(onnx, f"sha256 is {sha}, the package says {declared}")
        mapping = manifest_from_rdf(rdf, Path(source).name, sha)
        target_root = models_dir or user_dirs.user_models_dir()
        target = target_root / mapping["id"]
        if target.exists():
            if not overwrite:
                raise BioimageioError(target, "a model with this id is already installed")
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copy2(onnx, target / Path(source).name)
        shutil.copy2(rdf, target / rdf.name)
        for extra in ("README.md", "LICENSE", "LICENSE.txt", "documentation.md"):
            if (rdf.parent / extra).is_file():
                shutil.copy2(rdf.parent / extra, target / extra)
        (target / "tilescope-model.yaml").write_text(
            yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
    try:
        return load_manifest(target)
    except ManifestError:
        shutil.rmtree(target, ignore_errors=True)
        raise


__all__ = ["BioimageioError", "import_package", "manifest_from_rdf"]
