"""The model manifest `tilescope-model.yaml`: what a model folder holds and how to feed it.

It is also the model's card (name, description, licence, authors, citation). Schema, one
mapping, unknown keys rejected (example in docs/plugins.md)::

    format: 1                      # manifest schema version
    id: nuclei-unet-fluo           # stable id, [a-z0-9][a-z0-9._-]*
    name: Nuclei U-Net (fluorescence)
    version: "1.0"
    description: ...
    licence: MIT                   # SPDX id; "licence_file" optional
    authors: [..]                  # optional list of strings
    citation: ...                  # optional
    source: https://...            # optional: where the weights came from
    type: unet-semantic            # a registered model type (entry point group
                                   # tilescope.model_types)
    onnx: weights.onnx             # file inside the folder
    sha256: <64 hex digits>        # of the ONNX file
    cpu_onnx: weights.int8.onnx    # optional: int8 weights the CPU runs instead (with
    cpu_sha256: <64 hex digits>    #   its sha256); GPUs keep `onnx`
    input:
      mpp: 0.5 | native            # microns per pixel the model expects
      patch_size: 512 | [w, h]     # model pixels
      overlap: 64                  # shared by neighbouring tiles (> largest object)
      halo: 32                     # unreliable output border (context only)
      batch_size: 4
      channel_order: RGB | BGR | gray | haematoxylin
      normalisation:
        kind: none | scale | mean_std | zero_mean_unit_variance
        scale: 0.00392156862745098 # multiply first (scale, mean_std)
        mean: [0.485, 0.456, 0.406]   # mean_std only, one per channel
        std: [0.229, 0.224, 0.225]
        eps: 1.0e-6                # zero_mean_unit_variance only
    output:
      kind: instances | boxes | semantic | probability
      classes:
        - {name: nucleus, colour: "#ff3030"}
    parameters: {threshold: 0.5}   # type-specific, validated by the model type
    prompted: false                # needs clicks/squiggles
    tissue_detection: true         # false for documents, fluorescence
    bioimageio: bioimageio.yaml    # optional: the package's own description

Every error names the file and the key (`ManifestError`).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tilescope.engine.errors import TilescopeError, printable

MANIFEST_NAME = "tilescope-model.yaml"
FORMAT_VERSION = 1
CHANNEL_ORDERS = ("RGB", "BGR", "gray", "haematoxylin")
NORMALISATIONS = ("none", "scale", "mean_std", "zero_mean_unit_variance")
OUTPUT_KINDS = ("instances", "boxes", "semantic", "probability")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
_COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


class ManifestError(TilescopeError):
    """A manifest is missing, unreadable or wrong; the message names the file and the key."""

    def __init__(self, path: str | Path, problem: str, key: str | None = None) -> None:
        self.path = str(path)
        # Keys and values come from the file: a newline or control character in them must
        # not break the one-line message.
        self.key = printable(key) if key is not None else None
        self.problem = printable(problem)
        where = f"{self.path}: key '{self.key}'" if self.key else self.path
        super().__init__(f"{where}: {self.problem}")


@dataclass(frozen=True, slots=True)
class Normalisation:
    kind: str = "scale"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    eps: float = 1e-6


@dataclass(frozen=True, slots=True)
class ClassInfo:
    name: str
    colour: str = "#ff0000"


@dataclass(frozen=True, slots=True)
class InputSpec:
    mpp: float | None  # None: the slide's native resolution
    patch_size: tuple[int, int]  # (width, height)
    overlap: int = 0
    halo: int = 0
    batch_size: int = 1
    channel_order: str = "RGB"
    normalisation: Normalisation = field(default_factory=Normalisation)


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """A validated `tilescope-model.yaml`; `folder` is the model folder it came from."""

    id: str
    name: str
    version: str
    description: str
    licence: str
    type: str
    onnx: str
    sha256: str
    input: InputSpec
    output_kind: str
    classes: tuple[ClassInfo, ...]
    parameters: Mapping[str, Any]
    prompted: bool
    tissue_detection: bool
    folder: Path
    authors: tuple[str, ...] = ()
    citation: str | None = None
    source: str | None = None
    licence_file: str | None = None
    bioimageio: str | None = None
    cpu_onnx: str | None = None
    cpu_sha256: str | None = None

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST_NAME

    @property
    def onnx_path(self) -> Path:
        return self.folder / self.onnx

    @property
    def cpu_onnx_path(self) -> Path | None:
        """The int8 weights for the CPU provider, when the folder ships them."""
        return self.folder / self.cpu_onnx if self.cpu_onnx else None

    def weight_files(self) -> list[tuple[Path, str]]:
        """Every ONNX file of the folder with the sha256 the manifest gives it."""
        files = [(self.onnx_path, self.sha256)]
        if self.cpu_onnx_path is not None and self.cpu_sha256:
            files.append((self.cpu_onnx_path, self.cpu_sha256))
        return files

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def to_dict(self) -> dict[str, Any]:
        """The YAML mapping (inverse of `parse_manifest`), for writing imported models."""
        norm = self.input.normalisation
        norm_d: dict[str, Any] = {"kind": norm.kind}
        if norm.kind in ("scale", "mean_std"):
            norm_d["scale"] = norm.scale
        if norm.kind == "mean_std":
            norm_d["mean"] = list(norm.mean or ())
            norm_d["std"] = list(norm.std or ())
        if norm.kind == "zero_mean_unit_variance":
            norm_d["eps"] = norm.eps
        out: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "licence": self.licence,
            "type": self.type,
            "onnx": self.onnx,
            "sha256": self.sha256,
            **({"cpu_onnx": self.cpu_onnx, "cpu_sha256": self.cpu_sha256} if self.cpu_onnx else {}),
            "input": {
                "mpp": "native" if self.input.mpp is None else self.input.mpp,
                "patch_size": list(self.input.patch_size),
                "overlap": self.input.overlap,
                "halo": self.input.halo,
                "batch_size": self.input.batch_size,
                "channel_order": self.input.channel_order,
                "normalisation": norm_d,
            },
            "output": {
                "kind": self.output_kind,
                "classes": [{"name": c.name, "colour": c.colour} for c in self.classes],
            },
            "parameters": dict(self.parameters),
            "prompted": self.prompted,
            "tissue_detection": self.tissue_detection,
        }
        for key in ("authors", "citation", "source", "licence_file", "bioimageio"):
            value = getattr(self, key)
            if value:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


# -- validation helpers ----------------------------------------------------------------------
#: Limits that keep a hostile or mistaken manifest from asking for unbounded memory.
MAX_PATCH_SIDE = 8192
MAX_BATCH_SIZE = 256
#: Pixel sizes (um/px) a model can plausibly be trained at.
MPP_RANGE = (0.01, 100.0)
_MAX_PARAMETER_NODES = 10_000
#: A manifest is a page of YAML; anything far larger is not one.
MAX_MANIFEST_BYTES = 1 << 20


class ManifestProblemsError(ManifestError):
    """Several problems in one manifest, all found in one pass (`problems` lists each)."""

    def __init__(self, path: str | Path, problems: list[ManifestError]) -> None:
        self.problems = problems
        first = problems[0]
        more = "; ".join(_without_path(p) for p in problems[1:])
        super().__init__(path, f"{first.problem} (and {len(problems) - 1} more: {more})", first.key)


def _without_path(error: ManifestError) -> str:
    return f"key '{error.key}': {error.problem}" if error.key else error.problem


class _Reader:
    """Reads one mapping, remembering the keys used so unknown ones can be reported.

    Problems are collected in `problems` (shared with sub-readers), not raised, so that one
    pass over a manifest reports everything wrong with it; a bad value reads as the default.
    """

    def __init__(
        self, path: Path, data: Any, prefix: str = "", problems: list[ManifestError] | None = None
    ) -> None:
        self.path = path
        self.prefix = prefix
        self.problems: list[ManifestError] = [] if problems is None else problems
        if not isinstance(data, dict):
            what = prefix.rstrip(".") or "top level"
            self.problems.append(
                ManifestError(path, f"must be a mapping, got {type(data).__name__}", what)
                if prefix
                else ManifestError(path, f"{what} must be a mapping, got {type(data).__name__}")
            )
            data = {}
            self.valid = False
        else:
            self.valid = True
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return self.prefix + name

    def fail(self, name: str, problem: str) -> None:
        self.problems.append(ManifestError(self.path, problem, self.key(name)))

    def get(
        self,
        name: str,
        kind: type | tuple[type, ...],
        required: bool = True,
        default: Any = None,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        self.used.add(name)
        if name not in self.data:
            if required and self.valid:
                self.fail(name, "is required but missing")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; a number key must not accept `true`.
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            self.fail(name, f"must be {names}, got {_short(value)}")
            return default
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(name, f"must be a finite number, got {value}")
            return default
        if check is not None:
            problem = check(value)
            if problem:
                self.fail(name, problem)
                return default
        return value

    def sub(self, name: str, required: bool = True) -> _Reader | None:
        self.used.add(name)
        if name not in self.data:
            if not required:
                return None
            if self.valid:
                self.fail(name, "is required but missing")
            missing = _Reader(self.path, {}, self.key(name) + ".", self.problems)
            missing.valid = False  # its own keys are not reported missing again
            return missing
        return _Reader(self.path, self.data[name], self.key(name) + ".", self.problems)

    def reject_unknown(self) -> None:
        for name in sorted(set(self.data) - self.used, key=str):
            self.fail(str(name), f"is not a known key (allowed: {', '.join(sorted(self.used))})")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _positive(value: Any) -> str | None:
    return None if value > 0 else f"must be positive, got {value}"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else f"must not be negative, got {value}"


def _at_most(limit: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value <= 0:
            return f"must be positive, got {value}"
        return None if value <= limit else f"must be at most {limit}, got {value}"

    return check


def _one_of(options: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in options else f"must be one of {', '.join(options)}, got {value!r}"

    return check


def _numbers(value: Any) -> str | None:
    if not value or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return "must be a non-empty list of numbers"
    if not all(math.isfinite(v) for v in value):
        return "must hold finite numbers only"
    return None


def _inside_folder(value: str) -> str | None:
    """Relative paths that stay in the model folder (no absolute path, no '..')."""
    if not value.strip():
        return "must not be empty"
    if Path(value).is_absolute() or ".." in Path(value).parts or "\\" in value:
        return f"must be a file inside the model folder, got {value!r}"
    return None


def _parse_mpp(reader: _Reader) -> float | None:
    value = reader.get("mpp", (int, float, str))
    if value is None:
        return None
    if isinstance(value, str):
        if value != "native":
            reader.fail("mpp", f"must be a number or 'native', got {value!r}")
        return None
    if value <= 0:
        reader.fail("mpp", f"must be positive, got {value}")
        return None
    low, high = MPP_RANGE
    if not low <= value <= high:
        reader.fail("mpp", f"must be between {low} and {high} um/px, got {value}")
        return None
    return float(value)


def _parse_patch(reader: _Reader) -> tuple[int, int] | None:
    value = reader.get("patch_size", (int, list))
    if value is None:
        return None
    if isinstance(value, int):
        value = [value, value]
    if len(value) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        reader.fail("patch_size", f"must be a positive integer or [width, height], got {value!r}")
        return None
    if max(value) > MAX_PATCH_SIDE:
        reader.fail("patch_size", f"sides must be at most {MAX_PATCH_SIDE}, got {value!r}")
        return None
    return (int(value[0]), int(value[1]))


def _parse_normalisation(reader: _Reader | None) -> Normalisation:
    if reader is None:
        return Normalisation()
    kind = reader.get("kind", str, check=_one_of(NORMALISATIONS))
    scale = float(
        reader.get(
            "scale",
            (int, float),
            required=False,
            default=1.0 / 255.0,
            check=lambda v: None if v != 0 else "must not be 0",
        )
    )
    mean = reader.get("mean", list, required=kind == "mean_std", check=_numbers)
    std = reader.get("std", list, required=kind == "mean_std", check=_numbers)
    eps = float(reader.get("eps", (int, float), required=False, default=1e-6, check=_positive))
    reader.reject_unknown()
    if kind == "mean_std" and mean and std:
        if len(mean) != len(std):
            reader.fail("std", f"has {len(std)} values but mean has {len(mean)}")
        elif any(s <= 0 for s in std):
            reader.fail("std", "values must be positive")
    return Normalisation(
        kind=kind or "scale",
        scale=scale,
        mean=tuple(float(v) for v in mean) if mean else None,
        std=tuple(float(v) for v in std) if std else None,
        eps=eps,
    )


def _parse_classes(reader: _Reader) -> tuple[ClassInfo, ...]:
    items = reader.get("classes", list, required=False, default=[])
    classes = []
    for index, item in enumerate(items):
        sub = _Reader(reader.path, item, reader.key(f"classes[{index}]") + ".", reader.problems)
        name = sub.get("name", str, check=lambda v: None if v.strip() else "must not be empty")
        colour = sub.get(
            "colour",
            str,
            required=False,
            default="#ff0000",
            check=lambda v: None if _COLOUR_RE.match(v) else f"must look like #rrggbb, got {v!r}",
        )
        sub.reject_unknown()
        if name is not None:
            classes.append(ClassInfo(name, colour))
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        reader.fail("classes", f"class names must be unique, got {names}")
    return tuple(classes)


def _non_finite_parameter(value: Any, key: str) -> str | None:
    """The key of the first NaN/infinite number in a parameters tree, else None.

    YAML aliases can make a small file a huge (or self-referencing) tree: the walk visits at
    most `_MAX_PARAMETER_NODES` nodes and reports a tree larger than that as the problem.
    """
    stack: list[tuple[Any, str, int]] = [(value, key, 0)]
    visited = 0
    while stack:
        item, where, depth = stack.pop()
        visited += 1
        if visited > _MAX_PARAMETER_NODES or depth > 32:
            return f"{key}: is too large or too deeply nested"
        if isinstance(item, float) and not math.isfinite(item):
            return f"{where}: must be a finite number"
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}", depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))
    return None


def _onnx_name_problem(value: str) -> str | None:
    return _inside_folder(value) or (
        None if value.lower().endswith(".onnx") else "must name an .onnx file"
    )


def _sha256_problem(value: str) -> str | None:
    return None if _HEX_RE.match(value.lower()) else "must be 64 hexadecimal digits"


def _check_confined(top: _Reader, folder: Path, key: str, name: str | None) -> None:
    """A named file that exists must really lie in the model folder (no symlink out of it)."""
    if not name or _inside_folder(name):
        return
    target = folder / name
    try:
        if not target.exists() and not target.is_symlink():
            return
        real, root = target.resolve(), folder.resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop, a permission problem
        top.fail(key, f"cannot be resolved: {error}")
        return
    if not real.is_relative_to(root):
        top.fail(key, f"{name!r} links outside the model folder (to {real})")


def parse_manifest(data: Any, path: Path) -> ModelManifest:
    """Validate a loaded YAML mapping; `path` is the manifest file (for messages, folder).

    Raises `ManifestError` naming the key when one thing is wrong, `ManifestProblemsError` (a
    `ManifestError` whose `problems` lists each) when several are.
    """
    top = _Reader(path, data)
    version = top.get("format", int)
    if version is not None and version != FORMAT_VERSION:
        top.fail(
            "format", f"version {version} is not supported (this tilescope reads {FORMAT_VERSION})"
        )
    model_id = top.get(
        "id",
        str,
        check=lambda v: (
            None
            if _ID_RE.match(v)
            else f"must be lowercase letters, digits, '.', '_' or '-', got {v!r}"
        ),
    )
    name = top.get("name", str)
    version_s = top.get("version", (str, int, float))
    description = top.get("description", str)
    licence = top.get("licence", str)
    type_name = top.get("type", str)
    onnx = top.get("onnx", str, check=_onnx_name_problem)
    sha = top.get("sha256", str, check=_sha256_problem)
    cpu_onnx = top.get("cpu_onnx", str, required=False, check=_onnx_name_problem)
    cpu_sha = top.get("cpu_sha256", str, required=False, check=_sha256_problem)
    if (cpu_onnx is None) != (cpu_sha is None):
        top.fail("cpu_sha256" if cpu_onnx else "cpu_onnx", "cpu_onnx and cpu_sha256 go together")
    inp = top.sub("input")
    assert inp is not None
    mpp = _parse_mpp(inp)
    patch = _parse_patch(inp)
    overlap = inp.get("overlap", int, required=False, default=0, check=_non_negative)
    halo = inp.get("halo", int, required=False, default=0, check=_non_negative)
    batch = inp.get("batch_size", int, required=False, default=1, check=_at_most(MAX_BATCH_SIZE))
    order = inp.get(
        "channel_order", str, required=False, default="RGB", check=_one_of(CHANNEL_ORDERS)
    )
    norm = _parse_normalisation(inp.sub("normalisation", required=False))
    inp.reject_unknown()
    if patch is not None and 2 * max((overlap + 1) // 2, halo) >= min(patch):
        inp.fail(
            "overlap",
            f"overlap/halo ({overlap}/{halo}) leave no core in a {patch[0]} x {patch[1]} patch",
        )
    out = top.sub("output")
    assert out is not None
    kind = out.get("kind", str, check=_one_of(OUTPUT_KINDS))
    classes = _parse_classes(out)
    out.reject_unknown()
    parameters = top.get("parameters", dict, required=False, default={})
    bad_parameter = _non_finite_parameter(parameters, "parameters")
    if bad_parameter:
        where, _, problem = bad_parameter.partition(": ")
        top.fail(where, problem)
    prompted = top.get("prompted", bool, required=False, default=False)
    tissue = top.get("tissue_detection", bool, required=False, default=True)
    authors = top.get("authors", list, required=False, default=[])
    if not all(isinstance(a, str) for a in authors):
        top.fail("authors", "must be a list of strings")
    citation = top.get("citation", str, required=False)
    source = top.get("source", str, required=False)
    licence_file = top.get("licence_file", str, required=False, check=_inside_folder)
    bioimageio = top.get("bioimageio", str, required=False, check=_inside_folder)
    top.reject_unknown()
    folder = path.parent
    for key, value in (
        ("onnx", onnx),
        ("cpu_onnx", cpu_onnx),
        ("licence_file", licence_file),
        ("bioimageio", bioimageio),
    ):
        _check_confined(top, folder, key, value)
    problems = top.problems
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ManifestProblemsError(path, problems)
    assert patch is not None
    return ModelManifest(
        id=model_id,
        name=name,
        version=str(version_s),
        description=description,
        licence=licence,
        type=type_name,
        onnx=onnx,
        sha256=sha.lower(),
        input=InputSpec(mpp, patch, overlap, halo, batch, order, norm),
        output_kind=kind,
        classes=classes,
        parameters=dict(parameters),
        prompted=prompted,
        tissue_detection=tissue,
        folder=folder,
        authors=tuple(authors),
        citation=citation,
        source=source,
        licence_file=licence_file,
        bioimageio=bioimageio,
        cpu_onnx=cpu_onnx,
        cpu_sha256=cpu_sha.lower() if cpu_sha else None,
    )


def load_manifest(folder: str | Path) -> ModelManifest:
    """Read and validate `folder/tilescope-model.yaml` (`folder` may be the file itself)."""
    path = Path(folder)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(path, "model manifest not found")
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise ManifestError(
                path, f"is {size} bytes; a manifest is at most {MAX_MANIFEST_BYTES}"
            )
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except PermissionError:
        raise ManifestError(path, "permission denied: cannot read the manifest") from None
    except OSError as error:
        raise ManifestError(path, f"cannot read the manifest: {error.strerror or error}") from None
    except RecursionError:
        raise ManifestError(path, "not valid YAML (nested too deeply)") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ManifestError(path, f"not valid YAML ({first})") from error
    return parse_manifest(data, path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(manifest: ModelManifest, folder: Path) -> Path:
    path = folder / MANIFEST_NAME
    path.write_text(
        yaml.safe_dump(manifest.to_dict(), sort_keys=False, allow_unicode=True), "utf-8"
    )
    return path
