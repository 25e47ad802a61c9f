"""The model-type plugin API.

A *model* is a folder (an ONNX file + `tilescope-model.yaml`, see `manifest`). A *model
type* is a `ModelType` subclass that knows how to feed such a model and read its output;
it is registered under the entry-point group ``tilescope.model_types`` (name = `type_name`),
the built-in types exactly like third-party ones (see `registry` and docs/plugins.md).

The runner drives a type like this (all coordinates the user sees are level-0 pixels)::

    spec = model_type.tile_spec()             # patch, overlap, halo, mpp, batch size
    inputs = model_type.preprocess(tiles)     # list of H x W x C arrays -> ORT feeds
    outputs = model_type.run(inputs)          # default: session.run(None, inputs)
    results = model_type.postprocess(outputs, tile_infos)   # one TileResult per tile

`TileResult.instances` / `.boxes` are `Annotation`s already in level-0 pixels
(`TileInfo.to_level0`), `.probabilities` a C x H x W map over the tile. The runner then keeps
each instance once (centroid-in-core) and blends the maps.

Whole-image types (page layout) set ``whole_image = True`` and override `run_region(image,
region)`; the runner then reads the region once at the model's mpp and calls it.

Prompted types (clicks/squiggles) set ``prompted = True`` and override
`segment_prompts(slide, prompts)`: it reads what it needs around each `Prompt` (level-0
points) and returns annotations in level-0 pixels. GUI and CLI call it directly.

Type-specific thresholds are declared in `parameter_specs` (name -> `Param`); the manifest's
``parameters:`` mapping is checked against them (unknown keys rejected, defaults filled) and
the result is `self.parameters`. A run's own overrides (CLI `--param`, the GUI, the API, a
cluster task) go through `set_parameters`, which checks them the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from tilescope.engine.annotations.model import Annotation
from tilescope.engine.errors import InputError
from tilescope.engine.inference.sessions import cached_session, runs_on_cpu
from tilescope.engine.inference.types import (
    ModelIdentity,
    Prompt,
    RegionInfo,
    TileInfo,
    TileResult,
    TileSpec,
)
from tilescope.engine.settings import settings
from tilescope.plugins.manifest import ManifestError, ModelManifest
from tilescope.plugins.preprocessing import to_model_input

if TYPE_CHECKING:
    from tilescope.engine.slide.source import SlideSource

__all__ = [
    "LoadedModel",
    "ModelType",
    "Param",
    "Prompt",
    "RegionInfo",
    "TileInfo",
    "TileResult",
    "TileSpec",
]


@dataclass(frozen=True, slots=True)
class Param:
    """One type-specific parameter: its type, default and allowed range or choices."""

    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""

    def check(self, value: Any) -> str | None:
        """A problem in words, or None when `value` is acceptable."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or (isinstance(value, bool) and self.kind is not bool):
            return f"must be {self.kind.__name__}, got {value!r}"
        number: Any = value  # compared only for numeric kinds
        if self.minimum is not None and number < self.minimum:
            return f"must be at least {self.minimum}, got {value}"
        if self.maximum is not None and number > self.maximum:
            return f"must be at most {self.maximum}, got {value}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}, got {value!r}"
        return None


class LoadedModel:
    """A validated model folder plus its ONNX Runtime session, created lazily where used."""

    def __init__(
        self,
        manifest: ModelManifest,
        parameters: Mapping[str, Any] | None = None,
        device: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.manifest = manifest
        self.parameters: dict[str, Any] = dict(parameters or manifest.parameters)
        self.device = device
        self.threads = threads

    @property
    def folder(self) -> Path:
        return self.manifest.folder

    @property
    def onnx_path(self) -> Path:
        """The weights this model runs: the int8 file on a CPU-only session where the
        folder ships one (and the `cpu_int8_weights` setting is on), else the float file."""
        cpu = self.manifest.cpu_onnx_path
        if cpu is not None and settings().cpu_int8_weights and runs_on_cpu(self.device):
            return cpu
        return self.manifest.onnx_path

    @property
    def weights_sha256(self) -> str:
        """The manifest's sha256 of the file `onnx_path` runs (the run's provenance)."""
        m = self.manifest
        if m.cpu_sha256 and self.onnx_path == m.cpu_onnx_path:
            return m.cpu_sha256
        return m.sha256

    @property
    def session(self) -> Any:
        """The shared `onnxruntime.InferenceSession` for (file, device, threads)."""
        return cached_session(self.onnx_path, self.device, self.threads)


class ModelType(ABC):
    """Pre-processing, post-processing and prompt encoding for one family of models."""

    #: Registry name; equals the entry-point name and the manifest's `type`.
    type_name: ClassVar[str]
    #: Type-specific manifest `parameters:` (name -> spec).
    parameter_specs: ClassVar[Mapping[str, Param]] = {}
    #: True for models fed one image of a whole region (`run_region`) instead of tiles.
    whole_image: ClassVar[bool] = False
    #: True for models that need clicks or squiggles (`segment_prompts`).
    prompted: ClassVar[bool] = False
    #: Output tensor names the model must have (checked by `tilescope models check`).
    required_outputs: ClassVar[tuple[str, ...]] = ()
    #: Output kinds this type can read (manifest `output.kind`).
    output_kinds: ClassVar[tuple[str, ...]] = ("instances", "boxes", "semantic", "probability")

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.manifest = model.manifest
        self.parameters = model.parameters

    # -- manifest checks (class level: run when a folder is loaded) ---------------------
    @classmethod
    def validate_parameters(cls, manifest: ModelManifest) -> dict[str, Any]:
        """The manifest's `parameters:` checked against `parameter_specs`, defaults filled."""
        given = dict(manifest.parameters)
        unknown = sorted(set(given) - set(cls.parameter_specs))
        if unknown:
            allowed = ", ".join(sorted(cls.parameter_specs)) or "none"
            raise ManifestError(
                manifest.path,
                f"is not a parameter of model type {cls.type_name!r} (allowed: {allowed})",
                f"parameters.{unknown[0]}",
            )
        values: dict[str, Any] = {}
        for name, spec in cls.parameter_specs.items():
            value = given.get(name, spec.default)
            problem = spec.check(value)
            if problem:
                raise ManifestError(manifest.path, problem, f"parameters.{name}")
            values[name] = float(value) if spec.kind is float else value
        return values

    @classmethod
    def validate_manifest(cls, manifest: ModelManifest) -> dict[str, Any]:
        """Type-level checks of a manifest; returns the validated parameters."""
        if manifest.output_kind not in cls.output_kinds:
            raise ManifestError(
                manifest.path,
                f"model type {cls.type_name!r} reads {', '.join(cls.output_kinds)}, "
                f"not {manifest.output_kind!r}",
                "output.kind",
            )
        if manifest.prompted != cls.prompted:
            raise ManifestError(
                manifest.path,
                f"must be {str(cls.prompted).lower()} for model type {cls.type_name!r}",
                "prompted",
            )
        return cls.validate_parameters(manifest)

    # -- what the runner calls ----------------------------------------------------------
    @property
    def session(self) -> Any:
        return self.model.session

    def tile_spec(self) -> TileSpec:
        spec = self.manifest.input
        return TileSpec(
            patch_size=spec.patch_size,
            overlap=spec.overlap,
            halo=spec.halo,
            mpp=spec.mpp,
            batch_size=spec.batch_size,
            whole_image=self.whole_image,
        )

    def identity(self) -> ModelIdentity:
        """What a job records about this model (runs table, resume checks, colours)."""
        m = self.manifest
        return ModelIdentity(
            id=m.id,
            version=m.version,
            sha256=self.model.weights_sha256,
            parameters=dict(self.parameters),
            class_colours={c.name: c.colour for c in m.classes},
        )

    # -- a run's parameter overrides ----------------------------------------------------
    def set_parameters(self, overrides: Mapping[str, Any]) -> None:
        """Override parameters for this model's runs, each checked against its `Param`.

        Raises `InputError` naming the parameter (unknown name, wrong type, out of range);
        nothing is changed unless every override is acceptable.
        """
        checked: dict[str, Any] = {}
        for key, value in overrides.items():
            spec = self.parameter_specs.get(key)
            if spec is None:
                known = ", ".join(sorted(self.parameter_specs)) or "none"
                raise InputError(
                    f"parameter {key}",
                    f"model {self.manifest.id} has no such parameter (has: {known})",
                )
            problem = spec.check(value)
            if problem:
                raise InputError(f"parameter {key}", problem)
            checked[key] = float(value) if spec.kind is float else value
        self.parameters.update(checked)

    def parse_parameter(self, key: str, text: str) -> Any:
        """A parameter value typed as text (``--param key=text``): YAML for non-strings."""
        import yaml

        spec = self.parameter_specs.get(key)
        if spec is None or spec.kind is str:
            return text
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text

    def uses_tissue_detection(self) -> bool:
        return self.manifest.tissue_detection

    def class_names(self) -> Sequence[str]:
        return self.manifest.class_names

    def input_name(self) -> str:
        return str(self.session.get_inputs()[0].name)

    def preprocess(self, batch: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Default: channel order + normalisation from the manifest, N x C x H x W float32."""
        return {self.input_name(): to_model_input(batch, self.manifest.input)}

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(self.session.run(None, inputs))

    @abstractmethod
    def postprocess(self, outputs: list[np.ndarray], tiles: list[TileInfo]) -> list[TileResult]:
        """One `TileResult` per tile, geometry in level-0 pixels."""

    def run_region(self, image: np.ndarray, region: RegionInfo) -> list[Annotation]:
        """Whole-image types: annotations (level-0) for one image of a region."""
        raise NotImplementedError(f"model type {self.type_name!r} works on tiles, not regions")

    def segment_prompts(self, slide: SlideSource, prompts: list[Prompt]) -> list[Annotation]:
        """Prompted types: one or more annotations (level-0) for the user's clicks/squiggles."""
        raise NotImplementedError(f"model type {self.type_name!r} takes no prompts")

    def smoke_test(self) -> None:
        """Run the model once on a dummy input (`tilescope models check`); raise on failure.

        Default: one batch of light-grey tiles through preprocess, run and postprocess; one
        blank page through `run_region` for whole-image types; one click in the middle of a
        blank image through `segment_prompts` for prompted types.
        """
        w, h = self.tile_spec().patch_size
        tile = np.full((h, w, 3), 200, dtype=np.uint8)
        if self.prompted:
            from tilescope.engine.inference.memory_slide import ArraySlide

            with ArraySlide(np.full((2 * h, 2 * w, 3), 200, dtype=np.uint8)) as slide:
                self.segment_prompts(slide, [Prompt("point", ((float(w), float(h)),))])
            return
        if self.whole_image:
            self.run_region(tile, RegionInfo(0.0, 0.0, 1.0))
            return
        batch = self.tile_spec().batch_size
        infos = [TileInfo(i, 0.0, 0.0, w, h, 1.0, (0, 0, w, h)) for i in range(batch)]
        outputs = self.run(self.preprocess([tile] * batch))
        self.postprocess(outputs, infos)
