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
#: Limits on what a package may unpack to (ONNX weights of large models are a few hundred MB).
MAX_PACKAGE_BYTES = 1 << 30
MAX_PACKAGE_FILES = 1000
#: Members above this size must not be compressed more than `MAX_COMPRESSION_RATIO` : 1
#: (weights compress about 1.1 : 1; a zip bomb 1000 : 1).
MAX_RATIO_FREE_BYTES = 1 << 20
MAX_COMPRESSION_RATIO = 100
MAX_RDF_BYTES = 1 << 20
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


def read_rdf(rdf: Path) -> dict[str, Any]:
    """The description as a mapping; any reading or YAML problem is one `BioimageioError`."""
    try:
        size = rdf.stat().st_size
        if size > MAX_RDF_BYTES:
            raise BioimageioError(rdf, f"is {size} bytes; a description is at most {MAX_RDF_BYTES}")
        data = yaml.safe_load(rdf.read_text(encoding="utf-8"))
    except PermissionError:
        raise BioimageioError(rdf, "permission denied: cannot read the description") from None
    except OSError as error:
        raise BioimageioError(rdf, f"cannot read it: {error.strerror or error}") from None
    except RecursionError:
        raise BioimageioError(rdf, "not valid YAML (nested too deeply)") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = " ".join(str(error).split()) or type(error).__name__
        raise BioimageioError(rdf, f"not valid YAML ({first})") from None
    if not isinstance(data, dict):
        raise BioimageioError(rdf, "not a bioimage.io model description (not a mapping)")
    return data


def manifest_from_rdf(rdf: Path, onnx_name: str, sha256: str) -> dict[str, Any]:
    """The tilescope manifest mapping for a bioimage.io description (no file copying).

    A description malformed in a way the checks below do not name (a list where a mapping
    belongs, a missing field...) is still one `BioimageioError` naming the file.
    """
    data = read_rdf(rdf)
    try:
        return _manifest_from_data(data, rdf, onnx_name, sha256)
    except BioimageioError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, StopIteration) as error:
        raise BioimageioError(rdf, f"malformed model description ({_describe(error)})") from None


def _describe(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}" if error.args else "missing field"
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__


def _manifest_from_data(
    data: dict[str, Any], rdf: Path, onnx_name: str, sha256: str
) -> dict[str, Any]:
    if data.get("type", "model") != "model":
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
    if not isinstance(weights, dict):
        raise BioimageioError(rdf, "must be a mapping of weight formats", "weights")
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
    if Path(source).is_absolute() or ".." in Path(source).parts or "\\" in source:
        raise BioimageioError(
            rdf,
            f"must name a file inside the package, got {source!r}",
            "weights.onnx.source",
        )
    declared = entry.get("sha256")
    return source, str(declared) if declared is not None else None


def _extract(archive_path: Path, scratch: Path) -> None:
    """Unpack a package zip into `scratch`, refusing it before writing anything when a
    member's path leaves the folder or the sizes are beyond limits, and stopping while
    writing if a member turns out larger than it declared."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = archive.infolist()
            if len(members) > MAX_PACKAGE_FILES:
                raise BioimageioError(
                    archive_path, f"holds {len(members)} files; a package has at most "
                    f"{MAX_PACKAGE_FILES}"
                )  # fmt: skip
            total = 0
            for info in members:
                name = info.filename
                if Path(name).is_absolute() or ".." in Path(name).parts or "\\" in name:
                    raise BioimageioError(archive_path, f"unsafe path in archive: {name}")
                total += info.file_size
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > MAX_RATIO_FREE_BYTES and ratio > MAX_COMPRESSION_RATIO:
                    raise BioimageioError(
                        archive_path,
                        f"{name} would unpack to {info.file_size} bytes from "
                        f"{info.compress_size} ({ratio:.0f}:1): refused as a zip bomb",
                    )
            if total > MAX_PACKAGE_BYTES:
                raise BioimageioError(
                    archive_path,
                    f"would unpack to {total} bytes; a package may hold at most "
                    f"{MAX_PACKAGE_BYTES} bytes",
                )
            for info in members:
                _extract_member(archive, info, scratch, archive_path)
    except zipfile.BadZipFile:
        raise BioimageioError(archive_path, "not a valid zip file") from None
    except (zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as error:
        raise BioimageioError(archive_path, f"cannot unpack it: {_describe(error)}") from None


def _extract_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, scratch: Path, archive_path: Path
) -> None:
    target = scratch / info.filename
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(info) as source, target.open("wb") as sink:
        while block := source.read(1 << 20):
            written += len(block)
            if written > info.file_size:  # the header lied about the size
                raise BioimageioError(archive_path, f"{info.filename} is larger than it declares")
            sink.write(block)


def _inside(path: Path, root: Path, rdf: Path, key: str) -> Path:
    """`path` resolved, refused if it (or a symlink on its way) leaves `root`."""
    try:
        real, top = path.resolve(), root.resolve()
    except (OSError, RuntimeError) as error:
        raise BioimageioError(rdf, f"cannot resolve {path.name}: {error}", key) from None
    if not real.is_relative_to(top):
        raise BioimageioError(rdf, f"{path.name} links outside the package (to {real})", key)
    return real


def import_package(
    path: str | Path, models_dir: Path | None = None, overwrite: bool = False
) -> ModelManifest:
    """Copy a bioimage.io package into `models_dir` (default: the user's) as a tilescope model."""
    path = Path(path)
    if not path.exists():
        raise BioimageioError(path, "not found")
    with tempfile.TemporaryDirectory() as scratch:
        if path.is_file() and path.suffix.lower() == ".zip":
            _extract(path, Path(scratch))
            folder = Path(scratch)
            rdf = _find_rdf(folder)
        elif path.is_file():
            rdf, folder = path, path.parent
        else:
            folder = path
            rdf = _find_rdf(folder)
        data = read_rdf(rdf)
        source, declared = _onnx_entry(data, rdf)
        onnx = rdf.parent / source
        if not onnx.is_file():
            raise BioimageioError(
                rdf, f"ONNX weights file {source} is missing", "weights.onnx.source"
            )
        onnx = _inside(onnx, rdf.parent, rdf, "weights.onnx.source")
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
        try:
            shutil.copyfile(onnx, target / Path(source).name)
            shutil.copyfile(rdf, target / rdf.name)
            for extra in ("README.md", "LICENSE", "LICENSE.txt", "documentation.md"):
                candidate = rdf.parent / extra
                if candidate.is_file() and not candidate.is_symlink():
                    shutil.copyfile(candidate, target / extra)
            (target / "tilescope-model.yaml").write_text(
                yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True), encoding="utf-8"
            )
        except OSError as error:
            shutil.rmtree(target, ignore_errors=True)
            raise BioimageioError(
                target, f"cannot write the model: {error.strerror or error}"
            ) from None
    try:
        return load_manifest(target)
    except ManifestError:
        shutil.rmtree(target, ignore_errors=True)
        raise


__all__ = ["BioimageioError", "import_package", "manifest_from_rdf"]
