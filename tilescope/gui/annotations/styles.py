"""How classes are shown: colour (from the store), visibility and opacity (view state only).

Visibility and opacity belong to this window, not to the slide: they are never written to the
store, so hiding "Stroma" for a moment changes nothing another user or process sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtGui import QColor

from tilescope.engine.annotations.classes import Colour, default_colour


@dataclass(frozen=True, slots=True)
class ClassStyle:
    colour: Colour
    visible: bool = True
    opacity: float = 1.0

    def qcolor(self, alpha: int = 255) -> QColor:
        return QColor(self.colour[0], self.colour[1], self.colour[2], alpha)


@dataclass
class StyleTable:
    """Per-class display state; `generation` changes whenever anything drawn would change."""

    colours: dict[str, Colour] = field(default_factory=dict)
    hidden: set[str | None] = field(default_factory=set)
    opacities: dict[str | None, float] = field(default_factory=dict)
    generation: int = 0

    def style(self, name: str | None) -> ClassStyle:
        colour = self.colours.get(name) if name is not None else None
        return ClassStyle(
            colour if colour is not None else default_colour(name),
            name not in self.hidden,
            self.opacities.get(name, 1.0),
        )

    def is_visible(self, name: str | None) -> bool:
        return name not in self.hidden

    def set_visible(self, name: str | None, visible: bool) -> None:
        if visible:
            self.hidden.discard(name)
        else:
            self.hidden.add(name)
        self.generation += 1

    def set_opacity(self, name: str | None, opacity: float) -> None:
        self.opacities[name] = min(max(float(opacity), 0.0), 1.0)
        self.generation += 1

    def set_colours(self, colours: dict[str, Colour]) -> None:
        if colours != self.colours:
            self.colours = dict(colours)
            self.generation += 1

    def snapshot(self) -> StyleTable:
        """An independent copy for a render thread."""
        return StyleTable(
            dict(self.colours), set(self.hidden), dict(self.opacities), self.generation
        )
