"""The calls a GUI tool or a script needs: load the click model, outline what was clicked."""

from __future__ import annotations

from collections.abc import Sequence

from tilescope.engine.inference.types import Prompt
from tilescope.engine.slide.source import SlideSource
from tilescope.plugins.nuclick.model_type import NuClickModelType
from tilescope.plugins.nuclick.segment import PromptOutcome

DEFAULT_MODEL = "nuclick"


def load_nuclick(
    model: str = DEFAULT_MODEL, device: str = "auto", threads: int | None = None
) -> NuClickModelType:
    """The NuClick model `model` (id or folder); raises `ManifestError` when unusable."""
    from tilescope.plugins.catalog import load_model
    from tilescope.plugins.manifest import ManifestError

    loaded = load_model(model, device=device, threads=threads)
    if not isinstance(loaded, NuClickModelType):
        raise ManifestError(
            str(model), f"is a {loaded.type_name!r} model, not a NuClick model", "type"
        )
    return loaded


def clicks(points: Sequence[tuple[float, float]]) -> list[Prompt]:
    """Point prompts for level-0 (x, y) clicks."""
    return [Prompt("point", ((float(x), float(y)),)) for x, y in points]


def squiggle(points: Sequence[tuple[float, float]]) -> Prompt:
    """A squiggle prompt for a level-0 polyline."""
    return Prompt("squiggle", tuple((float(x), float(y)) for x, y in points))


def outline_objects(
    slide: SlideSource,
    prompts: Sequence[Prompt],
    model: NuClickModelType | None = None,
    exclude: Sequence[tuple[float, float]] = (),
) -> list[PromptOutcome]:
    """Outlines for clicks / squiggles on `slide` (level-0 pixels), one outcome per prompt."""
    return (model or load_nuclick()).segment(slide, prompts, exclude)
