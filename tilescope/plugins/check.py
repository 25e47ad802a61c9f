"""`tilescope models check`: is a model folder usable, and if not, what is wrong, in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tilescope.engine.inference.sessions import SessionError, create_session
from tilescope.plugins.base import LoadedModel, ModelType
from tilescope.plugins.manifest import (
    MANIFEST_NAME,
    ManifestError,
    ManifestProblemsError,
    ModelManifest,
    file_sha256,
    load_manifest,
)
from tilescope.plugins.registry import UnknownModelTypeError, get_type

_ORT_FLOAT = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8}


@dataclass
class CheckReport:
    """What `models check` found: the manifest (if valid), every problem, the ONNX sha256."""

    manifest: ModelManifest | None
    problems: list[str] = field(default_factory=list)
    onnx: Path | None = None
    sha256: str | None = None  # computed from the file, whatever the manifest says
    ran: Path | None = None  # the weights the smoke test ran (int8 on a CPU where shipped)


def check_model_folder(folder: str | Path) -> tuple[ModelManifest | None, list[str]]:
    """The manifest (if readable) and a list of problems; an empty list means usable."""
    report = check_model(folder)
    return report.manifest, report.problems


def check_model(folder: str | Path) -> CheckReport:
    """Every problem of a model folder found in one pass, and the sha256 of its ONNX file."""
    folder = Path(folder)
    if not folder.exists():
        return CheckReport(None, [f"{folder}: folder not found"])
    try:
        manifest = load_manifest(folder)
    except ManifestProblemsError as error:
        report = CheckReport(None, [str(p) for p in error.problems])
        _hash_named_onnx(folder, report)
        return report
    except ManifestError as error:
        report = CheckReport(None, [str(error)])
        _hash_named_onnx(folder, report)
        return report
    report = CheckReport(manifest, onnx=manifest.onnx_path)
    problems = report.problems
    cls: type[ModelType] | None = None
    parameters: dict[str, object] = {}
    try:
        found = get_type(manifest.type)
        type_problems = _generic_type_problems(found, manifest)
        if type_problems:
            problems += type_problems
        else:
            parameters = found.validate_manifest(manifest)  # the type's own checks too
            cls = found
    except (ManifestError, UnknownModelTypeError) as error:
        problems.append(f"{manifest.path}: {error}" if isinstance(error, KeyError) else str(error))
    for onnx, expected in manifest.weight_files():
        if not onnx.is_file():
            problems.append(f"{onnx}: ONNX file named in the manifest is missing")
            return report
        try:
            digest = file_sha256(onnx)
        except OSError as error:
            problems.append(f"{onnx}: cannot read it: {error.strerror or error}")
            return report
        if onnx == manifest.onnx_path:
            report.sha256 = digest
        if digest != expected:
            problems.append(
                f"{onnx}: sha256 is {digest}, the manifest says {expected} "
                "(file changed or corrupt)"
            )
    if cls is None:
        return report  # without a valid type and parameters the model cannot be built
    model = cls(LoadedModel(manifest, parameters, device="cpu", threads=1))
    for onnx, _ in manifest.weight_files():  # the float weights and the CPU's int8 ones
        try:
            session = create_session(onnx, "cpu", 1)
        except SessionError as error:
            problems.append(str(error))
            return report
        problems += _check_signature(model, session, onnx)
    if problems:
        return report
    onnx = model.model.onnx_path  # the smoke test runs what this machine's CPU would
    try:
        model.smoke_test()
        report.ran = onnx
    except Exception as error:  # the model's own failure, reported in words
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        problems.append(f"{onnx}: running the model on a dummy input failed: {first}")
    return report


def _generic_type_problems(cls: type[ModelType], manifest: ModelManifest) -> list[str]:
    """Every problem the base type checks would raise one at a time: output kind, prompted,
    each unknown parameter and each parameter value out of its range."""
    problems: list[str] = []

    def add(problem: str, key: str) -> None:
        problems.append(str(ManifestError(manifest.path, problem, key)))

    if manifest.output_kind not in cls.output_kinds:
        add(
            f"model type {cls.type_name!r} reads {', '.join(cls.output_kinds)}, "
            f"not {manifest.output_kind!r}",
            "output.kind",
        )
    if manifest.prompted != cls.prompted:
        add(f"must be {str(cls.prompted).lower()} for model type {cls.type_name!r}", "prompted")
    allowed = ", ".join(sorted(cls.parameter_specs)) or "none"
    for name in sorted(set(manifest.parameters) - set(cls.parameter_specs)):
        add(
            f"is not a parameter of model type {cls.type_name!r} (allowed: {allowed})",
            f"parameters.{name}",
        )
    for name, spec in cls.parameter_specs.items():
        problem = spec.check(manifest.parameters.get(name, spec.default))
        if problem:
            add(problem, f"parameters.{name}")
    return problems


def _hash_named_onnx(folder: Path, report: CheckReport) -> None:
    """For a manifest that failed validation: hash the ONNX file it names, if there is one, so
    that a person fixing `sha256:` has the value at hand."""
    import yaml

    path = folder / MANIFEST_NAME if folder.is_dir() else folder
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        name = data.get("onnx") if isinstance(data, dict) else None
        if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
            return
        onnx = path.parent / name
        if onnx.is_file() and onnx.resolve().is_relative_to(path.parent.resolve()):
            report.onnx = onnx
            report.sha256 = file_sha256(onnx)
    except Exception:  # best effort: the manifest's problems are already listed
        return


def _check_signature(model: ModelType, session: object, onnx: Path) -> list[str]:
    """Input shape/dtype against what pre-processing makes; required output names present."""
    problems: list[str] = []
    outputs = [o.name for o in session.get_outputs()]  # type: ignore[attr-defined]
    missing = [name for name in model.required_outputs if name not in outputs]
    if missing:
        problems.append(
            f"{onnx}: outputs {', '.join(missing)} missing (the model has {', '.join(outputs)})"
        )
    if model.whole_image or model.prompted:
        return problems  # their inputs are not plain tiles; the smoke test covers them
    w, h = model.tile_spec().patch_size
    batch = model.tile_spec().batch_size
    try:
        fed = model.preprocess([np.full((h, w, 3), 200, dtype=np.uint8)] * batch)
    except Exception as error:
        return [*problems, f"{model.manifest.path}: pre-processing failed: {error}"]
    declared = {i.name: i for i in session.get_inputs()}  # type: ignore[attr-defined]
    for name, array in fed.items():
        spec = declared.get(name)
        if spec is None:
            problems.append(f"{onnx}: has no input named {name!r} (inputs: {', '.join(declared)})")
            continue
        expected = list(spec.shape)
        fixed = [d if isinstance(d, int) else None for d in expected]
        if type(model).run is not ModelType.run and fixed:
            fixed[0] = None  # the type feeds the batch its own way (e.g. one image per call)
        if len(fixed) != array.ndim or any(
            d is not None and d != a for d, a in zip(fixed, array.shape, strict=False)
        ):
            problems.append(
                f"{onnx}: input {name!r} has shape {expected}, but the manifest "
                f"(patch size, channels, batch size) gives {list(array.shape)}"
            )
        dtype = _ORT_FLOAT.get(spec.type)
        if dtype is not None and array.dtype != dtype:
            problems.append(
                f"{onnx}: input {name!r} is {spec.type}, pre-processing makes {array.dtype}"
            )
    return problems
