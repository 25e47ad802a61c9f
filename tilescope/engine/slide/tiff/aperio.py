"""Aperio SVS: the ImageDescription of the first page and the names of associated images.

The description is ``<header line>\\n<summary> | Key = Value | Key = Value ...``; OpenSlide
exposes each pair as ``aperio.<Key>``, the MPP key as pixel size and AppMag as objective power.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tilescope.engine.slide.mpp import parse_number, plausible_objective


@dataclass(frozen=True)
class AperioDescription:
    """What an Aperio ImageDescription says, with OpenSlide's property names."""

    properties: dict[str, str] = field(default_factory=dict)

    @property
    def stated_mpp(self) -> float | None:
        """The MPP value as written (may be inf, 0, 1e300: judged by `vendor_mpp`)."""
        return parse_number(self.properties.get("aperio.MPP"))

    @property
    def objective_power(self) -> float | None:
        return plausible_objective(parse_number(self.properties.get("aperio.AppMag")))


def is_aperio(description: str) -> bool:
    return description.startswith("Aperio")


def parse_aperio_description(description: str) -> AperioDescription:
    """Key/value pairs after the first ``|``; later duplicates of a key win, as in OpenSlide."""
    properties: dict[str, str] = {}
    for item in description.split("|")[1:]:
        key, sep, value = item.partition("=")
        if sep:
            properties[f"aperio.{key.strip()}"] = value.strip()
    return AperioDescription(properties)


def associated_image_name(description: str) -> str | None:
    """'label' or 'macro' from the second line of a non-pyramid page's description."""
    lines = description.splitlines()
    if len(lines) < 2 or not lines[1].strip():
        return None
    return lines[1].split()[0]
