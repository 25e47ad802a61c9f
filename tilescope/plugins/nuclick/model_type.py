"""The `nuclick` model type: prompted (clicks / squiggles), no tiling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from tilescope.engine.annotations.model import Annotation
from tilescope.engine.inference.types import Prompt, TileInfo, TileResult
from tilescope.engine.slide.source import SlideSource
from tilescope.plugins.base import LoadedModel, ModelType, Param
from tilescope.plugins.manifest import ManifestError, ModelManifest
from tilescope.plugins.nuclick.segment import NuClickSegmenter, NuClickSettings, PromptOutcome


class NuClickModelType(ModelType):
    """Feeds a NuClick network (5 channels: RGB / 255, inclusion, exclusion -> mask logits)."""

    type_name: ClassVar[str] = "nuclick"
    prompted: ClassVar[bool] = True
    output_kinds: ClassVar[tuple[str, ...]] = ("instances",)
    parameter_specs: ClassVar[dict[str, Param]] = {
        "threshold": Param(float, 0.5, 0.01, 0.99, help="probability above which a pixel is in"),
        "signal_radius": Param(
            float, 2.0, 0.0, 10.0, help="click disk radius in model pixels (0: one pixel)"
        ),
        "squiggle_width": Param(int, 3, 1, 15, help="squiggle line width in model pixels"),
        "min_area": Param(int, 10, 0, 100000, help="drop parts smaller than this (model px)"),
        "max_patch": Param(int, 512, 64, 2048, help="largest squiggle patch (model px)"),
        "simplify": Param(float, 0.2, 0.0, 5.0, help="outline simplification (model px)"),
    }

    def __init__(self, model: LoadedModel) -> None:
        super().__init__(model)
        self._segmenter: NuClickSegmenter | None = None

    @classmethod
    def validate_manifest(cls, manifest: ModelManifest) -> dict[str, object]:
        values = super().validate_manifest(manifest)
        width, height = manifest.input.patch_size
        if width != height or width % 32:
            raise ManifestError(
                manifest.path,
                f"must be square and a multiple of 32 for NuClick, got {width} x {height}",
                "input.patch_size",
            )
        return values

    def settings(self) -> NuClickSettings:
        p, spec = self.parameters, self.manifest.input
        return NuClickSettings(
            mpp=spec.mpp,
            patch=spec.patch_size[0],
            threshold=float(p["threshold"]),
            signal_radius=float(p["signal_radius"]),
            squiggle_width=int(p["squiggle_width"]),
            min_area=int(p["min_area"]),
            max_patch=int(p["max_patch"]),
            simplify=float(p["simplify"]),
            batch_size=spec.batch_size,
            model_id=self.manifest.id,
        )

    @property
    def segmenter(self) -> NuClickSegmenter:
        if self._segmenter is None:
            self._segmenter = NuClickSegmenter(self.session, self.settings())
        return self._segmenter

    def segment(
        self,
        slide: SlideSource,
        prompts: Sequence[Prompt],
        exclude: Sequence[tuple[float, float]] = (),
    ) -> list[PromptOutcome]:
        """One outcome per prompt (an annotation or why there is none), level-0 pixels.

        `exclude`: level-0 points of objects that must stay outside (e.g. centres of nuclei
        outlined before), added to the exclusion map next to the other clicks.
        """
        return self.segmenter.segment(slide, prompts, exclude)

    def segment_prompts(self, slide: SlideSource, prompts: list[Prompt]) -> list[Annotation]:
        return [o.annotation for o in self.segment(slide, prompts) if o.annotation is not None]

    def postprocess(self, outputs: list, tiles: list[TileInfo]) -> list[TileResult]:
        raise NotImplementedError("NuClick needs clicks or squiggles: use segment_prompts")
